// ArrowheadIO: safetensors, .npy and .fvecs/.ivecs/.bvecs readers and writers.
// (Module under construction: see issue 3 / issue 5.)
import ArrowheadCore
