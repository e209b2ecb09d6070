// ArrowheadIO: file formats (safetensors, .npy, .fvecs/.ivecs/.bvecs) and atomic writes.
import ArrowheadCore
