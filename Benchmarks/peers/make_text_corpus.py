#!/usr/bin/env python3
"""Builds the real text corpus of issue 13's benchmarks, offline and reproducibly.

Source: the paragraphs of Debian bookworm's manual pages in eight languages, taken from
these Debian packages (downloaded once with `apt-get download`, pinned versions, never
installed: the .deb files are read with `dpkg-deb --fsys-tarfile`):

    manpages, manpages-dev            English (Linux man-pages 6.03: sections 2-8)
    manpages-de, -fr, -es, -ru, -pl   German, French, Spanish, Russian, Polish (manpages-l10n)
    manpages-ja                       Japanese
    manpages-zh                       Simplified and Traditional Chinese

Each page's roff source is turned into plain paragraphs (macros dropped, font and
character escapes resolved, no-fill blocks and tables skipped); paragraphs are de-duplicated
and mixed by language (about 55 % English, 25 % European, 20 % Japanese/Chinese). About 4 %
of the texts join several consecutive paragraphs of one page, so the corpus holds texts
well past all-MiniLM-L6-v2's 256-token limit. A seeded pass then edits a few percent of
the texts to cover what tokenizers get wrong and man pages rarely contain (each edit is
counted in the manifest): emoji (incl. ZWJ sequences, skin tones, flags and emoji newer
than Unicode 9), control characters (C0, DEL, C1), zero-width and other format characters
(U+200B..U+200D, U+2060, U+FEFF, soft hyphen), unusual spaces (NBSP, U+3000, thin space),
private-use and U+FFFD characters, accents in decomposed form (NFD), upper and mixed case,
words longer than 100 characters, and literal special-token strings ("[SEP]", "[MASK]").

No text contains a line separator: characters that some line readers split on (CR, VT, FF,
U+001C..U+001E, U+0085, U+2028, U+2029) are replaced by a space, so "one text per line"
reads the same in Swift, in Python's str.splitlines and in `wc -l`.

Outputs (UTF-8, one text per line, written atomically):
    text-corpus.txt     --corpus texts (default 10 000)
    text-queries.txt    --queries texts (default 1 000), held out: none is in the corpus
    text-corpus.json    manifest: package versions and .deb SHA-256, seed, counts per
                        language and per edit, length statistics, SHA-256 of both outputs

The same seed and the same .deb files give byte-identical outputs (checked by the
manifest's hashes). Needs only Python 3 (standard library), apt-get and dpkg-deb.

Usage: make_text_corpus.py [--out-dir DIR] [--cache DIR] [--corpus N] [--queries N] [--seed S]
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import unicodedata

# Debian bookworm packages (name, version). The version is pinned so the corpus is
# reproducible; if the mirror no longer has it, the candidate version is used and the
# manifest says so.
PACKAGES = [
    ("manpages", "6.03-2"),
    ("manpages-dev", "6.03-2"),
    ("manpages-de", "4.18.1-1"),
    ("manpages-fr", "4.18.1-1"),
    ("manpages-es", "4.18.1-1"),
    ("manpages-ru", "4.18.1-1"),
    ("manpages-pl", "1:4.18.1-1"),
    ("manpages-ja", "0.5.0.0.20221215+dfsg-1"),
    ("manpages-zh", "1.6.4.0-1"),
]

# Share of the texts per language (man directory name; "en" = no language directory).
LANGUAGE_SHARE = {
    "en": 0.55, "de": 0.07, "fr": 0.06, "es": 0.04, "ru": 0.04, "pl": 0.04,
    "ja": 0.08, "zh_CN": 0.06, "zh_TW": 0.06,
}

# Characters that line readers disagree on (Python's str.splitlines splits on all of them).
LINE_BREAKERS = dict.fromkeys(map(ord, "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), " ")

# Emoji used by the edits, written out so the corpus does not depend on a Python version's
# Unicode tables: plain (Unicode 6), newer (Unicode 9-15: 🤣 🥰 🥺 🫠 🫶 🪿), modifiers,
# ZWJ sequences, flags, keycaps, variation selectors.
EMOJI = [
    "😀", "😂", "👍", "🎉", "🔥", "🚀", "💡", "🐍", "🌍", "☕", "❤️", "✅", "⚠️", "🤣", "🥰",
    "🥺", "🫠", "🫶", "🪿", "🧑‍💻", "👩‍👩‍👧", "👍🏽", "🏳️‍🌈", "🇯🇵", "🇫🇷", "1️⃣", "#️⃣",
    "✍🏿", "🙅‍♀️",
]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f", "\x80", "\x9f", "\t"]
FORMAT = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e"]
SPACES = ["\u00a0", "\u3000", "\u2009", "\u2002", "\u1680"]
ODD = ["\ue000", "\uf8ff", "\ufffd", "\U000f0000", "\u0378", "\U0001fbff"]
SPECIAL_TOKENS = ["[SEP]", "[MASK]", "[CLS]", "[UNK]", "[PAD]", "[sep]"]


def log(message):
    print(f"make_text_corpus: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- packages

def deb_path(cache, name, version):
    return os.path.join(cache, f"{name}_{version.replace(':', '%3a')}_all.deb")


_lists_updated = False


def apt_download(cache, spec):
    """`apt-get download SPEC` into `cache`; on failure, refreshes the package lists once
    (`apt-get update`, with sudo when not root) and retries. True when it worked."""
    global _lists_updated
    for attempt in range(2):
        status = subprocess.run(["apt-get", "download", spec], cwd=cache,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if status.returncode == 0:
            return True
        if _lists_updated or attempt == 1:
            log(f"apt-get download {spec} failed: {status.stderr.strip()[-300:]}")
            return False
        log("apt-get download failed; refreshing Debian's package lists (apt-get update)")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=False)
        _lists_updated = True
    return False


def ensure_debs(cache):
    """Downloads the pinned .deb files into `cache` (apt-get download, no install)."""
    os.makedirs(cache, exist_ok=True)
    found = []
    def existing(name):
        return sorted(f for f in os.listdir(cache) if f.startswith(name + "_") and f.endswith(".deb"))
    for name, version in PACKAGES:
        path = deb_path(cache, name, version)
        note = "pinned"
        if not os.path.exists(path):
            if existing(name):
                path, note = os.path.join(cache, existing(name)[-1]), "cached, not the pinned version"
            else:
                log(f"apt-get download {name}={version} (downloaded into {cache}, not installed)")
                if not apt_download(cache, f"{name}={version}"):
                    log(f"{name}={version} unavailable; trying the candidate version")
                    if not apt_download(cache, name):
                        sys.exit(f"make_text_corpus: cannot download the Debian package {name}")
                    note = "candidate version (pinned one unavailable)"
                path = os.path.join(cache, existing(name)[-1])
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        found.append({"package": name, "file": os.path.basename(path), "sha256": digest, "note": note})
    return found


def man_pages(deb):
    """Yields (language, page name, roff text) for every man page in a .deb, in name order."""
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True, stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile()), key=lambda m: m.name)
        for member in members:
            match = re.match(r"\./usr/share/man/(?:([a-z]{2}(?:_[A-Z]{2})?)/)?man\d[^/]*/([^/]+)\.gz$", member.name)
            if not match:
                continue
            raw = gzip.decompress(archive.extractfile(member).read())
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # a handful of legacy-encoded pages: skipped rather than guessed
            yield match.group(1) or "en", match.group(2), text


# --------------------------------------------------------------------------- roff → text

NAMED = {
    "em": "—", "en": "–", "hy": "-", "aq": "'", "dq": '"', "lq": "“", "rq": "”", "oq": "‘",
    "cq": "’", "bu": "•", "co": "©", "rg": "®", "tm": "™", "de": "°", "mu": "×", "di": "÷",
    "+-": "±", "<=": "≤", ">=": "≥", "!=": "≠", "->": "→", "<-": "←", "ua": "↑", "da": "↓",
    "Fo": "«", "Fc": "»", "fo": "‹", "fc": "›", "ti": "~", "ha": "^", "rs": "\\", "sl": "/",
    "ga": "`", "aa": "´", "pl": "+", "mi": "−", "eq": "=", "sc": "§", "ps": "¶", "ss": "ß",
    "'e": "é", "`e": "è", "'a": "á", "`a": "à", ":u": "ü", ":o": "ö", ":a": "ä", "~n": "ñ",
}
ESCAPE = re.compile(r"""\\(?:
      f(?:\[[^\]]*\]|\(..|.)          # font change
    | s[-+]?(?:\d+|\(\d\d|\[\d+\])    # size change
    | \*(?:\[[^\]]*\]|\(..|.)         # string register
    | n(?:\[[^\]]*\]|\(..|.)          # number register
    | \((?P<two>..)                   # two-letter character
    | \[(?P<long>[^\]]*)\]            # long character name
    | [kmMYgV](?:\[[^\]]*\]|\(..|.)   # misc. registers
    | [hvwlLDoxbzHSR]'[^']*'          # motions and drawing
    | (?P<one>.)                      # one-character escape
)""", re.VERBOSE)


def resolve_escape(match):
    if match.group("two") is not None:
        return NAMED.get(match.group("two"), "")
    if match.group("long") is not None:
        name = match.group("long")
        if re.fullmatch(r"u[0-9A-F]{4,5}", name):
            return chr(int(name[1:], 16))
        return NAMED.get(name, "")
    one = match.group("one")
    if one is None:
        return ""
    return {"-": "-", "e": "\\", "\\": "\\", "~": " ", " ": " ", "0": " ", "|": "", "^": "",
            "&": "", "c": "", "%": "", ":": "", "/": "", ",": "", ")": "", "t": " ", "'": "´",
            "`": "`", ".": "."}.get(one, "")


def inline_text(line):
    line = re.sub(r'\\".*$', "", line)  # inline comment
    return ESCAPE.sub(resolve_escape, line)


def macro_arguments(rest):
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"?|\S+', rest)]


TEXT_MACROS = {"B", "I", "SM", "SB"}
ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}
SKIPPED_BLOCKS = {"nf": "fi", "TS": "TE", "EQ": "EN", "EX": "EE", "de": ".."}


def paragraphs(roff):
    """Plain-text paragraphs of one roff page (headings and code blocks dropped)."""
    current, out, skip_until = [], [], None
    def flush():
        if current:
            text = re.sub(r"\s+", " ", " ".join(current)).strip()
            if text:
                out.append(text)
            current.clear()
    for line in roff.split("\n"):
        if skip_until is not None:
            if re.match(r"^[.']\s*" + re.escape(skip_until) + r"\b", line) or (skip_until == ".." and line.startswith("..")):
                skip_until = None
            continue
        if line.startswith((".\\\"", "'\\\"", ".\\\\\"")):
            continue
        if line.startswith((".", "'")):
            match = re.match(r"^[.']\s*(\S+)\s*(.*)$", line)
            if not match:
                continue
            name, rest = match.group(1), match.group(2)
            if name in SKIPPED_BLOCKS:
                flush()
                skip_until = SKIPPED_BLOCKS[name]
            elif name in TEXT_MACROS:
                current.append(inline_text(" ".join(macro_arguments(rest))))
            elif name in ALTERNATING:
                current.append(inline_text("".join(macro_arguments(rest))))
            else:
                flush()  # SH, SS, PP, TP, IP, sp, br, RS … end the paragraph; their text is dropped
            continue
        if not line.strip():
            flush()
            continue
        current.append(inline_text(line))
    flush()
    return out


CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def usable(text):
    """A paragraph that reads as prose: long enough, mostly letters."""
    if len(text) < 24:
        return False
    letters = sum(ch.isalpha() for ch in text)
    if letters < 0.55 * len(text):
        return False
    if CJK.search(text):
        return len(CJK.findall(text)) >= 8
    return len(text.split()) >= 4


# --------------------------------------------------------------------------- edits

def edit(text, rng, counts):
    """Applies at most one seeded edit to a text; counts it by kind."""
    roll = rng.random()
    words = text.split(" ")
    def insert(piece):
        at = rng.randrange(len(words) + 1)
        return " ".join(words[:at] + [piece] + words[at:])
    def glue(piece):
        # inside a word, without spaces (what zero-width and control characters do in practice)
        at = rng.randrange(len(text) + 1)
        return text[:at] + piece + text[at:]
    kinds = [
        (0.025, "emoji", lambda: insert("".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3))))),
        (0.012, "emoji glued to a word", lambda: glue(rng.choice(EMOJI))),
        (0.015, "control characters", lambda: glue(rng.choice(CONTROL)) if rng.random() < 0.5
            else insert(rng.choice(CONTROL) + rng.choice(CONTROL))),
        (0.012, "zero-width / format characters", lambda: glue(rng.choice(FORMAT))),
        (0.008, "unusual spaces", lambda: text.replace(" ", rng.choice(SPACES), rng.randint(1, 4))),
        (0.006, "private-use / U+FFFD / unassigned", lambda: glue(rng.choice(ODD))),
        (0.015, "accents decomposed (NFD)", lambda: unicodedata.normalize("NFD", text)),
        (0.010, "upper case", lambda: text.upper()),
        (0.008, "mixed case", lambda: "".join(c.upper() if rng.random() < 0.3 else c for c in text)),
        (0.006, "word longer than 100 characters", lambda: insert(
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyzéü") for _ in range(rng.randint(101, 180))))),
        (0.004, "word of 95-100 characters", lambda: insert("x" * rng.randint(95, 100))),
        (0.004, "special-token strings", lambda: insert(rng.choice(SPECIAL_TOKENS))),
    ]
    threshold = 0.0
    for share, kind, make in kinds:
        threshold += share
        if roll < threshold:
            counts[kind] = counts.get(kind, 0) + 1
            return make()
    return text


def clean_line(text):
    text = text.translate(LINE_BREAKERS).replace("\n", " ")
    return text.strip(" ")


# --------------------------------------------------------------------------- main

def atomic_write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default=os.environ.get("ARROWHEAD_PEERS_DATA", os.path.join(here, "data")))
    parser.add_argument("--cache", default=None, help="where the .deb files are kept (default OUT_DIR/debs)")
    parser.add_argument("--corpus", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--long-share", type=float, default=0.04,
                        help="share of texts that join several paragraphs (long texts)")
    args = parser.parse_args()
    cache = args.cache or os.path.join(args.out_dir, "debs")
    os.makedirs(args.out_dir, exist_ok=True)

    debs = ensure_debs(cache)
    by_language, by_page = {}, []
    for deb in debs:
        for language, page, roff in man_pages(os.path.join(cache, deb["file"])):
            found = [p for p in paragraphs(roff) if usable(p)]
            if found:
                by_page.append((language, page, found))
    seen = set()
    for language, page, found in by_page:
        for text in found:
            text = clean_line(text)
            if text and text not in seen:
                seen.add(text)
                by_language.setdefault(language, []).append(text)
    log("paragraphs per language: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(by_language.items())))

    rng = random.Random(args.seed)
    total = args.corpus + args.queries
    texts, chosen_languages = [], {}
    for language in sorted(LANGUAGE_SHARE):
        pool = by_language.get(language, [])
        want = round(LANGUAGE_SHARE[language] * total * (1 - args.long_share))
        if len(pool) < want:
            log(f"only {len(pool)} {language} paragraphs for {want} wanted; taking all")
        picked = rng.sample(pool, min(want, len(pool)))
        chosen_languages[language] = len(picked)
        texts += picked
    # Long texts: 3-14 consecutive paragraphs of one page (pages with enough of them).
    long_pages = [entry for entry in by_page if len(entry[2]) >= 4]
    long_count = 0
    while len(texts) < total and long_pages:
        language, page, found = rng.choice(long_pages)
        start = rng.randrange(len(found) - 2)
        joined = clean_line(" ".join(found[start:start + rng.randint(3, 14)]))
        if joined not in seen:
            seen.add(joined)
            texts.append(joined)
            long_count += 1
    rng.shuffle(texts)

    counts = {}
    edited = [clean_line(edit(text, rng, counts)) for text in texts]
    queries, corpus, used = [], [], set()
    for text in edited:
        if not text or text in used:
            continue
        used.add(text)
        (queries if len(queries) < args.queries else corpus).append(text)
    if len(corpus) < args.corpus:
        sys.exit(f"make_text_corpus: only {len(corpus)} distinct corpus texts for {args.corpus} wanted")
    corpus = corpus[:args.corpus]

    corpus_bytes = ("\n".join(corpus) + "\n").encode("utf-8")
    query_bytes = ("\n".join(queries) + "\n").encode("utf-8")
    lengths = sorted(len(t) for t in corpus)
    manifest = {
        "source": "Debian bookworm manual pages (apt-get download, read with dpkg-deb; see make_text_corpus.py)",
        "packages": debs,
        "seed": args.seed,
        "corpus_texts": len(corpus),
        "query_texts": len(queries),
        "paragraphs_per_language": chosen_languages,
        "long_texts_joined": long_count,
        "edits": dict(sorted(counts.items())),
        "corpus_characters": {"min": lengths[0], "median": lengths[len(lengths) // 2],
                              "p95": lengths[int(0.95 * len(lengths))], "max": lengths[-1]},
        "sha256": {"text-corpus.txt": hashlib.sha256(corpus_bytes).hexdigest(),
                   "text-queries.txt": hashlib.sha256(query_bytes).hexdigest()},
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
    }
    atomic_write(os.path.join(args.out_dir, "text-corpus.txt"), corpus_bytes)
    atomic_write(os.path.join(args.out_dir, "text-queries.txt"), query_bytes)
    atomic_write(os.path.join(args.out_dir, "text-corpus.json"),
                 (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    log(f"{len(corpus)} corpus texts, {len(queries)} queries, {long_count} long, edits {counts} -> {args.out_dir}")


if __name__ == "__main__":
    main()
