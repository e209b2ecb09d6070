// ArrowheadOptimize: quantization-parameter optimizers (module under construction: issue 4).
import Arrowhead
import ArrowheadQuant
