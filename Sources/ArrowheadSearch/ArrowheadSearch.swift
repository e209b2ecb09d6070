// ArrowheadSearch: nearest-neighbour search (module under construction: issue 5).
import Arrowhead
import ArrowheadQuant
import HeapModule
