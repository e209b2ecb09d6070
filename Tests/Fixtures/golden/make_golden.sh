#!/usr/bin/env bash
# Regenerates every golden file in this folder (see README.md): the inputs with the Python
# standard library (make_inputs.py), then the files with the `arrowhead` CLI of this
# checkout (debug build). Running it again on an unchanged format changes nothing; when a
# format changes on purpose, bump its version, run this and commit the new files with it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
source scripts/setup.sh
swift build --product arrowhead >&2
arrowhead="$(swift build --show-bin-path)/arrowhead"
python3 "$here/make_inputs.py" "$here"

# Static dispatch, one thread: nothing depends on timing (the codes and files are the same
# on every backend anyway; the tests prove it).
export ARROWHEAD_DISPATCH=static ARROWHEAD_THREADS=1
unset ARROWHEAD_BACKEND

# Index files: each kind × storage, squared L2, over the 16 vectors; HNSW with M = 4 on
# one thread (deterministic for the seed); int8 keeps the float32 copy for re-ranking.
for kind in flat hnsw; do
  graph=()
  if [ "$kind" = hnsw ]; then graph=(-M 4 --ef-construction 16 --ef-search 16 --seed 7); fi
  for storage in f32 int8 int4; do
    rerank=()
    if [ "$storage" = int8 ]; then rerank=(--rerank); fi
    "$arrowhead" index build --input "$here/vectors.fvecs" --type "$kind" --metric l2 --storage "$storage" "${rerank[@]}" \
      "${graph[@]}" --threads 1 --quiet -o "$here/$kind-$storage.ahi" >/dev/null
  done
done
# The build time in the header differs from run to run: set it to 0 (and the header's CRC).
python3 - "$here"/*.ahi <<'PYTHON'
import struct, sys, zlib
for path in sys.argv[1:]:
    data = bytearray(open(path, "rb").read())
    header_length = struct.unpack_from("<I", data, 12)[0]
    # header: kind, metric, storage, flags (4 bytes), dimension (4), slots, deleted, next id,
    # insertions (8 each): build seconds at 16 + 4 + 4 + 32 = 56.
    struct.pack_into("<d", data, 56, 0.0)
    struct.pack_into("<I", data, 16 + header_length, zlib.crc32(bytes(data[:16 + header_length])))
    open(path, "wb").write(data)
PYTHON

# Quantized models: INT4 groups of 8 (float minimum) with time-aware activation parameters
# of layer.a from the calibration file, and INT3 per channel, symmetric.
"$arrowhead" quantize "$here/model.safetensors" -o "$here/model.int4-g8.safetensors" --bits 4 --group 8 \
  --time-groups 2 --calibration "$here/calibration.jsonl" --timesteps 8 --smoothing linear --smoothing-window 1 --quiet >/dev/null
"$arrowhead" quantize "$here/model.safetensors" -o "$here/model.int3-channel-symmetric.safetensors" --bits 3 --per-channel \
  --symmetric --no-fallback --quiet >/dev/null
ls -l "$here" >&2
