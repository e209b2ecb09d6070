// ArrowheadQuant: weight quantization (INT8/INT4/INT3/INT2, symmetric and asymmetric,
// per tensor / channel / group, real bit packing), time-aware activation parameters for
// diffusion models, mixed precision, and quantized safetensors files. See README.md.
@_exported import ArrowheadIO
