// ArrowheadQuant: weight quantization (module under construction: issue 3).
import Arrowhead
import ArrowheadIO
