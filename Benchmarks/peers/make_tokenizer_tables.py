#!/usr/bin/env python3
"""Generates Sources/ArrowheadTokenizer/BertUnicodeData.swift: the Unicode character data
that HF `tokenizers` uses in its BERT normaliser and pre-tokeniser, probed on every code
point through the `tokenizers` Python package itself.

Why probe instead of reading the Unicode Character Database: `tokenizers` mixes Unicode
versions. Its control/format/private-use test, its non-spacing-mark test (accent
stripping) and its punctuation test come from the `unicode_categories` crate (an old
Unicode: e.g. U+2E43..U+2E5D are not punctuation there), its NFD from the
`unicode-normalization-alignments` crate, while lower-casing and whitespace come from the
Rust standard library (a recent Unicode: U+A7CB lower-cases to U+0264 there, not in Python
3.11's Unicode 14). Identical token ids on every text need the same tables, so they are
measured, not assumed. Probes (each on a single code point c, surrogates excluded):

    removed / space    BertNormalizer(clean_text only) on "a"+c+"a": "aa" / "a a"
    chinese            BertNormalizer(handle_chinese_chars only) on c: " c "
    decomposition      normalizers.NFD() on c (Hangul syllables checked against the
                       algorithm and left out: the Swift side computes them)
    non-spacing mark   BertNormalizer(strip_accents only) on c with no decomposition: ""
    lowercase          BertNormalizer(lowercase only) on c
    whitespace / punct BertPreTokenizer on "a"+c+"a": two pieces / three pieces
    combining class    NFD order of "a"+c+m against reference marks m of every class

The script checks its own model of accent stripping (strip(c) == NFD(c) without the
non-spacing marks) on every code point and stops if it does not hold.

Usage: Benchmarks/peers/.venv/bin/python Benchmarks/peers/make_tokenizer_tables.py [--out FILE]
"""
import argparse
import os
import sys
import time
import unicodedata

import tokenizers
from tokenizers import normalizers, pre_tokenizers

HANGUL_BASE, HANGUL_COUNT = 0xAC00, 11172


def hangul_nfd(cp):
    index = cp - HANGUL_BASE
    lead, vowel, trail = 0x1100 + index // 588, 0x1161 + (index % 588) // 28, 0x11A7 + index % 28
    return chr(lead) + chr(vowel) + (chr(trail) if trail != 0x11A7 else "")


def code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)


def ranges(points):
    points = sorted(points)
    out = []
    for cp in points:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(here, "..", "..", "Sources", "ArrowheadTokenizer",
                                                      "BertUnicodeData.swift"))
    args = parser.parse_args()
    started = time.time()

    def bert(**flags):
        options = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        options.update(flags)
        return normalizers.BertNormalizer(**options).normalize_str

    clean, chinese, strip, lower = bert(clean_text=True), bert(handle_chinese_chars=True), \
        bert(strip_accents=True), bert(lowercase=True)
    nfd = normalizers.NFD().normalize_str
    pre = pre_tokenizers.BertPreTokenizer().pre_tokenize_str

    removed, spaces, cjk, whitespace, punctuation, marks = [], [], [], [], [], []
    decompositions, lowercase, stripped = {}, {}, {}
    for cp in code_points():
        c = chr(cp)
        r = clean("a" + c + "a")
        if r == "aa":
            removed.append(cp)
        elif r == "a a" and c != " ":
            spaces.append(cp)
        elif r not in ("a" + c + "a", "a a"):
            sys.exit(f"unexpected clean_text result for U+{cp:04X}: {r!r}")
        r = chinese(c)
        if r == " " + c + " ":
            cjk.append(cp)
        elif r != c:
            sys.exit(f"unexpected handle_chinese_chars result for U+{cp:04X}: {r!r}")
        r = nfd(c)
        if r != c:
            if HANGUL_BASE <= cp < HANGUL_BASE + HANGUL_COUNT:
                if r != hangul_nfd(cp):
                    sys.exit(f"Hangul U+{cp:04X} does not decompose algorithmically: {r!r}")
            else:
                decompositions[cp] = r
        stripped[cp] = strip(c)
        r = lower(c)
        if r != c:
            lowercase[cp] = r
        pieces = [p[0] for p in pre("a" + c + "a")]
        if pieces == ["a", "a"]:
            whitespace.append(cp)
        elif pieces == ["a", c, "a"]:
            punctuation.append(cp)
        elif pieces != ["a" + c + "a"]:
            sys.exit(f"unexpected pre-tokenizer result for U+{cp:04X}: {pieces!r}")
    for cp, result in stripped.items():
        if result == "" and cp not in decompositions:
            marks.append(cp)
    mark_set = set(marks)
    for cp in code_points():
        full = hangul_nfd(cp) if HANGUL_BASE <= cp < HANGUL_BASE + HANGUL_COUNT else decompositions.get(cp, chr(cp))
        expected = "".join(ch for ch in full if ord(ch) not in mark_set)
        if stripped[cp] != expected:
            sys.exit(f"accent stripping of U+{cp:04X} is not NFD minus marks: {stripped[cp]!r} vs {expected!r}")
    print(f"probed in {time.time() - started:.0f} s", file=sys.stderr)

    # Canonical combining classes as the NFD implementation orders them. Reference marks:
    # the oldest code point of each class in Python's tables (stable since it was assigned).
    def swaps(x, y):
        return x != y and nfd("a" + x + y) == "a" + y + x
    candidates = {}
    for cp in code_points():
        value = unicodedata.combining(chr(cp))
        if value and cp not in decompositions:
            candidates.setdefault(value, []).append(chr(cp))
    references = {}  # class -> a mark that orders as that class against the accepted ones
    for value in sorted(candidates):
        for mark in candidates[value]:
            if all(swaps(mark, ref) and not swaps(ref, mark) for ref in references.values()):
                references[value] = mark
                break
        else:
            print(f"combining class {value}: no mark of it is known to tokenizers' NFD", file=sys.stderr)
    values = sorted(references)
    low, high = references[values[0]], references[230]
    classes = {}
    for cp in code_points():
        if cp in decompositions or HANGUL_BASE <= cp < HANGUL_BASE + HANGUL_COUNT:
            continue
        c = chr(cp)
        if not (swaps(high, c) or swaps(c, low)):
            continue
        value = next((v for v in values if not swaps(c, references[v])), None)
        if value is None:
            sys.exit(f"U+{cp:04X}: combining class above every reference")
        classes[cp] = value
    print(f"combining classes of {len(classes)} code points ({time.time() - started:.0f} s)", file=sys.stderr)

    def range_text(points):
        return " ".join(f"{a:x}" if a == b else f"{a:x}-{b:x}" for a, b in ranges(points))

    def map_text(mapping):
        return " ".join(f"{cp:x}:" + ",".join(f"{ord(ch):x}" for ch in value) for cp, value in sorted(mapping.items()))

    def class_text():
        out, run = [], None
        for cp in sorted(classes):
            if run and run[1] == cp - 1 and run[2] == classes[cp]:
                run[1] = cp
            else:
                if run:
                    out.append(run)
                run = [cp, cp, classes[cp]]
        out.append(run)
        return " ".join((f"{a:x}" if a == b else f"{a:x}-{b:x}") + f":{v:x}" for a, b, v in out)

    def literal(name, doc, text):
        words, lines, line = text.split(" "), [], ""
        for word in words:
            if line and len(line) + 1 + len(word) > 96:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        body = "\n".join("    " + l for l in lines)
        return f"  /// {doc}\n  static let {name} = \"\"\"\n{body}\n    \"\"\"\n"

    tables = [
        ("removed", "clean_text removes these (control, format, private use; U+0000, U+FFFD), ranges.", range_text(removed)),
        ("spaces", "clean_text replaces these by U+0020 (whitespace, incl. tab, LF, CR), ranges.", range_text(spaces)),
        ("chinese", "handle_chinese_chars puts spaces around these (CJK ideographs), ranges.", range_text(cjk)),
        ("whitespace", "The pre-tokeniser splits on and drops these (Rust `char::is_whitespace`), ranges.", range_text(whitespace)),
        ("punctuation", "The pre-tokeniser isolates these (ASCII punctuation and Unicode P*), ranges.", range_text(punctuation)),
        ("nonspacingMarks", "Accent stripping drops these after NFD (general category Mn), ranges.", range_text(marks)),
        ("decompositions", "Full canonical decompositions (NFD) other than Hangul syllables, code point:scalars.", map_text(decompositions)),
        ("lowercase", "Lower-case mappings (Rust `char::to_lowercase`), code point:scalars.", map_text(lowercase)),
        ("combiningClasses", "Canonical combining classes other than 0, range:class (hex).", class_text()),
    ]
    header = f"""// Generated by Benchmarks/peers/make_tokenizer_tables.py from HF tokenizers {tokenizers.__version__}
// (probed on every code point; see that script for why). Do not edit by hand: re-run the script.
//
// Format: space-separated hexadecimal code points; "a-b" is an inclusive range; "c:x,y" maps
// c to the scalars x, y; "a-b:v" gives the range the value v. Parsed once, on first use.

extension BertUnicodeData {{
  /// The HF `tokenizers` version these tables were probed from.
  static let probedVersion = "{tokenizers.__version__}"

"""
    text = header + "\n".join(literal(*t) for t in tables) + "}\n"
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{n} {len(t.split())}" for n, _, t in tables), file=sys.stderr)


if __name__ == "__main__":
    main()
