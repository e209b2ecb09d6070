#!/usr/bin/env bash
# Regenerates the seed corpus in Fuzz/Corpus/<target>/ (small valid files of every kind the
# parsers read). Needs python3 (standard library only) and a built `arrowhead` CLI:
#   Fuzz/make-corpus.sh [path/to/arrowhead]      (default: .build/debug/arrowhead)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${1:-$root/.build/debug/arrowhead}"
corpus="$root/Fuzz/Corpus"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$corpus"/{safetensors,safetensors-index,npy,vecs,index,index-fixed,quantized,calibration,tokenizer,texts}

python3 - "$work" "$corpus" <<'PY'
import json, struct, sys, random
work, corpus = sys.argv[1], sys.argv[2]
rng = random.Random(15)

def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata: header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    while (8 + len(text)) % 8: text += b" "
    return struct.pack("<Q", len(text)) + text + data

def floats(values): return struct.pack("<%df" % len(values), *values)
def halves(values): return struct.pack("<%de" % len(values), *values)

def write(path, content):
    with open(path, "wb") as f: f.write(content)

# safetensors
write(f"{corpus}/safetensors/f32.safetensors", safetensors([("w", "F32", [2, 3], floats([rng.uniform(-1, 1) for _ in range(6)]))], {"format": "pt"}))
write(f"{corpus}/safetensors/mixed.safetensors", safetensors([
    ("a", "F16", [4], halves([0.5, -1.0, 2.0, 65504.0])),
    ("b", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
    ("c", "F64", [2], struct.pack("<2d", 1.5, -2.5)),
    ("ids", "I64", [3], struct.pack("<3q", 1, 2, 3)),
    ("u", "U8", [5], bytes(range(5))),
    ("empty", "F32", [0, 3], b""),
]))
# sharded index (over the two shards the harness creates: a, b in the first, c in the second)
write(f"{corpus}/safetensors-index/index.json", json.dumps({
    "metadata": {"total_size": 48},
    "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"},
}).encode())
write(f"{corpus}/safetensors-index/partial.json", json.dumps({"weight_map": {"c": "model-00002-of-00002.safetensors"}}).encode())

# npy
def npy(descr, shape, raw, major=1):
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    prefix = 10 if major == 1 else 12
    total = (prefix + len(d) + 1 + 63) // 64 * 64
    d += " " * (total - prefix - len(d) - 1) + "\n"
    length = struct.pack("<H", len(d)) if major == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([major, 0]) + length + d.encode() + raw
write(f"{corpus}/npy/f4.npy", npy("<f4", [2, 3], floats([1, 2, 3, 4, 5, 6])))
write(f"{corpus}/npy/f8.npy", npy("<f8", [2, 2], struct.pack("<4d", 1, 2, 3e300, 4)))
write(f"{corpus}/npy/i8.npy", npy("<i8", [2, 2], struct.pack("<4q", 0, 1, 2, 3)))
write(f"{corpus}/npy/i4-v2.npy", npy("<i4", [3], struct.pack("<3i", 7, 8, 9), major=2))
write(f"{corpus}/npy/u1.npy", npy("|u1", [2, 2], bytes([1, 2, 3, 255])))
write(f"{corpus}/npy/i1.npy", npy("|i1", [4], bytes([1, 0xFF, 3, 0x80])))

# vecs
def vecs(rows, fmt):
    out = b""
    for row in rows: out += struct.pack("<i", len(row)) + struct.pack("<%d%s" % (len(row), fmt), *row)
    return out
write(f"{corpus}/vecs/f.fvecs", vecs([[rng.uniform(-1, 1) for _ in range(4)] for _ in range(3)], "f"))
write(f"{corpus}/vecs/i.ivecs", vecs([[1, 2, 3], [4, 5, 6]], "i"))
write(f"{corpus}/vecs/b.bvecs", vecs([[1, 2, 3, 4, 5, 6, 7, 8]], "B"))

# inputs for the CLI-made seeds
write(f"{work}/base.fvecs", vecs([[rng.uniform(-1, 1) for _ in range(4)] for _ in range(40)], "f"))
model = [("embed.weight", "F32", [4, 16], floats([rng.gauss(0, 1) for _ in range(64)])),
         ("layer.weight", "F32", [4, 32], floats([rng.gauss(0, 0.1) for _ in range(128)])),
         ("layer.bias", "F32", [4], floats([0.1, 0.2, 0.3, 0.4]))]
write(f"{work}/model.safetensors", safetensors(model, {"format": "pt"}))
with open(f"{corpus}/calibration/summary.jsonl", "w") as f:
    for t in range(6):
        f.write(json.dumps({"layer": "layer", "timestep": t, "min": -1 - t / 10, "max": 1 + t / 5, "count": 100,
                            "percentiles": {"0.1": -0.9 - t / 10, "99.9": 0.9 + t / 5}}) + "\n")
with open(f"{corpus}/calibration/samples.jsonl", "w") as f:
    for t in range(4):
        f.write(json.dumps({"layer": "layer", "timestep": t, "samples": [round(rng.gauss(0, 1 + t), 3) for _ in range(8)]}) + "\n")
    f.write("\n")
with open(f"{corpus}/calibration/sources.jsonl", "w") as f:  # rows of 2 channels with their images, extremes and tails
    for t in range(4):
        rows = [[round(rng.gauss(0, 1 + t), 3) for _ in range(2)] for _ in range(6)]
        flat = [v for row in rows for v in row]
        f.write(json.dumps({"layer": "conv", "weight": "conv.weight", "timestep": t, "channels": 2, "min": min(flat) - 1,
                            "max": max(flat) + 1, "count": 40, "tails": [min(flat) - 1, max(flat) + 1],
                            "sources": [i // 2 for i in range(6)], "samples": flat}) + "\n")
with open(f"{work}/calib.jsonl", "w") as f:
    f.write(open(f"{corpus}/calibration/summary.jsonl").read())
PY

"$cli" index build --input "$work/base.fvecs" --type flat -o "$corpus/index/flat.ahi" --quiet >/dev/null
"$cli" index build --input "$work/base.fvecs" --type hnsw -M 4 --ef-construction 16 --threads 1 -o "$corpus/index/hnsw.ahi" --quiet >/dev/null
"$cli" index build --input "$work/base.fvecs" --type hnsw -M 4 --ef-construction 16 --threads 1 --storage int8 --rerank -o "$corpus/index/hnsw-int8.ahi" --quiet >/dev/null
"$cli" index build --input "$work/base.fvecs" --type flat --storage int4 --metric cosine -o "$corpus/index/flat-int4.ahi" --quiet >/dev/null
cp "$corpus"/index/*.ahi "$corpus/index-fixed/"

"$cli" quantize "$work/model.safetensors" -o "$corpus/quantized/int4-g16.safetensors" --bits 4 --group 16 --quiet >/dev/null
"$cli" quantize "$work/model.safetensors" -o "$corpus/quantized/int8-zp-act.safetensors" --bits 8 --group 16 --zero-point \
  --time-groups 2 --calibration "$work/calib.jsonl" --smoothing cubic --smoothing-window 1 --quiet >/dev/null
"$cli" quantize "$work/model.safetensors" -o "$corpus/quantized/int2-sym-channel.safetensors" --bits 2 --per-channel --symmetric --no-fallback --quiet >/dev/null
cp "$root/Tests/Fixtures/quantized-v1/v1.safetensors" "$corpus/quantized/v1.safetensors"
# tokenizer.json: the tokenizer tests' tiny WordPiece files (plain and with added tokens).
cp "$root/Tests/ArrowheadTokenizerTests/Fixtures/tiny/tokenizer.json" "$corpus/tokenizer/tiny.json"
cp "$root/Tests/ArrowheadTokenizerTests/Fixtures/tiny-added/tokenizer.json" "$corpus/tokenizer/tiny-added.json"
# Text input: plain lines (CRLF, empty line, invalid UTF-8) and JSON Lines.
printf 'first line\r\n\nsecond \xff line\nlast without newline' > "$corpus/texts/lines.txt"
printf '{"text": "hello"}\n\n{"text": "caf\\u00e9 \\ud83d\\ude42", "id": 3}\n' > "$corpus/texts/texts.jsonl"
du -sh "$corpus"; find "$corpus" -type f | wc -l
