#!/usr/bin/env python3
"""Lists the public symbols of Arrowhead's library modules that have no doc comment.

Reads the symbol graphs that `swift package dump-symbol-graph` writes (under
.build/<triple>/symbolgraph) and prints one `file:line: Module: kind Name` line per public
symbol declared in Sources/ or Backends/ (the `arrowhead` CLI and Tests/ excluded) that
has no `///` comment of its own. Exit status 1 when there is any, 0 when there is none.

  swift package dump-symbol-graph --minimum-access-level public   # ~5 min on 2 cores
  python3 scripts/check_docs.py [--dump] [--verbose] [SYMBOLGRAPH_DIR]

`--dump` runs the dump-symbol-graph command first.

Counted as documented:
  * a doc comment of its own (the comment sits in the symbol's file, ending just above it,
    with only attributes or blank lines between);
  * a doc comment the compiler took from what the declaration implements or overrides,
    when that is a requirement declared in this package (e.g. a backend's `gemm` that
    implements `MatrixKernels.gemm`), or a standard-library requirement from the list in
    STANDARD_REQUIREMENTS (`description`, `==`, `<`, `hash(into:)`, Collection indices…).

Not checked (the compiler makes them, or they are documented where they come from):
symbols with no source location, `::SYNTHESIZED::` members (protocol-extension defaults
copied into a conforming type), and modules whose sources are outside Sources/ and
Backends/. The per-ISA SIMD modules compile one shared source (symbolic links to
Backends/SIMD); a symbol there is reported once, under its real path. Only what this
platform and the enabled traits compile is seen (an `#if arch(arm64)` declaration is not,
on x86-64).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from urllib.parse import unquote, urlparse

# Requirements of standard protocols whose own documentation is the right one for an
# implementation that adds nothing to it. Keyed by the symbol's last path component.
STANDARD_REQUIREMENTS = {
    "description",  # CustomStringConvertible
    "debugDescription",  # CustomDebugStringConvertible
    "errorDescription",  # LocalizedError
    "==(_:_:)",  # Equatable
    "<(_:_:)",  # Comparable
    "hash(into:)",  # Hashable
    "init(from:)",  # Decodable
    "encode(to:)",  # Encodable
    "makeIterator()",  # Sequence
    "next()",  # IteratorProtocol
    "underestimatedCount",  # Sequence
    "startIndex",  # Collection
    "endIndex",  # Collection
    "count",  # Collection
    "index(after:)",  # Collection
    "index(before:)",  # BidirectionalCollection
    "subscript(_:)",  # Collection
}
STANDARD_MODULES = {"Swift", "Foundation", "FoundationEssentials", "_Concurrency"}

# Sources under Sources/ that are not library API: the `arrowhead` CLI.
EXCLUDED_DIRS = ("Sources/arrowhead/",)


def path_of(uri):
    return unquote(urlparse(uri).path)


def find_graph_dir(root):
    candidates = sorted(glob.glob(os.path.join(root, ".build", "*", "symbolgraph")))
    candidates = [c for c in candidates if glob.glob(os.path.join(c, "*.symbols.json"))]
    if not candidates:
        sys.exit("check_docs: no symbol graphs under .build/*/symbolgraph; run with --dump, or "
                 "swift package dump-symbol-graph --minimum-access-level public")
    return max(candidates, key=os.path.getmtime)


class Sources:
    def __init__(self):
        self.cache = {}

    def lines(self, path):
        if path not in self.cache:
            try:
                with open(path, encoding="utf-8") as f:
                    self.cache[path] = f.read().split("\n")
            except OSError:
                self.cache[path] = []
        return self.cache[path]


def between_is_attributes(lines, first, last):
    """True when lines[first...last] (0-based, inclusive) hold only attributes or blanks.

    Multi-line attributes (`@available(…,\n …)`) are allowed by tracking parentheses.
    """
    depth = 0
    for i in range(first, last + 1):
        if i < 0 or i >= len(lines):
            return False
        text = lines[i].strip()
        if depth == 0 and text and not text.startswith("@"):
            return False
        depth += text.count("(") - text.count(")")
        depth = max(depth, 0)
    return True


def own_doc(symbol, sources):
    """True when the symbol's doc comment is written at the declaration itself."""
    doc = symbol.get("docComment")
    loc = symbol["location"]
    if not doc or doc.get("uri") != loc["uri"]:
        return False
    ranged = [line for line in doc.get("lines", []) if "range" in line]
    if not ranged:
        return False
    doc_end = max(line["range"]["end"]["line"] for line in ranged)
    decl = loc["position"]["line"]
    if doc_end >= decl:
        return False
    return between_is_attributes(sources.lines(path_of(loc["uri"])), doc_end + 1, decl - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("graphs", nargs="?", help="symbol graph directory (default: newest .build/*/symbolgraph)")
    parser.add_argument("--dump", action="store_true", help="run swift package dump-symbol-graph first")
    parser.add_argument("--verbose", action="store_true", help="also list the symbols counted by inheritance")
    args = parser.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.dump:
        # It exits 1 even when every library graph was written: it cannot load the test
        # bundle modules (ArrowheadPackageTests, ArrowheadPackageDiscoveredTests).
        dump = subprocess.run(["swift", "package", "dump-symbol-graph", "--minimum-access-level", "public"], cwd=root)
        if dump.returncode != 0:
            print(f"check_docs: dump-symbol-graph exited {dump.returncode}; reading the graphs it wrote",
                  file=sys.stderr)
    graph_dir = args.graphs or find_graph_dir(root)
    sources = Sources()

    # Pass 1: every located symbol, so inherited comments can be traced to their source.
    graphs = []
    package_modules = set()
    for path in sorted(glob.glob(os.path.join(graph_dir, "*.symbols.json"))):
        with open(path, encoding="utf-8") as f:
            graph = json.load(f)
        module = os.path.basename(path).split(".symbols.json")[0].split("@")[0]
        graphs.append((module, graph))
        package_modules.add(module)

    checked = Counter()
    undocumented = []  # (realpath, line, module, kind, name, note)
    inherited = []
    seen = set()
    for module, graph in graphs:
        for symbol in graph["symbols"]:
            loc = symbol.get("location")
            if not loc or "::SYNTHESIZED::" in symbol["identifier"]["precise"]:
                continue
            if symbol.get("accessLevel") not in ("public", "open"):
                continue
            file = path_of(loc["uri"])
            rel = os.path.relpath(file, root)
            if not (rel.startswith("Sources/") or rel.startswith("Backends/")) or rel.startswith(EXCLUDED_DIRS):
                continue
            real = os.path.relpath(os.path.realpath(file), root)
            line = loc["position"]["line"] + 1
            key = (real, line, loc["position"]["character"], "/".join(symbol["pathComponents"]))
            if key in seen:
                continue
            seen.add(key)
            checked[module] += 1
            kind = symbol["kind"]["displayName"]
            name = ".".join(symbol["pathComponents"])
            if own_doc(symbol, sources):
                continue
            doc = symbol.get("docComment")
            last = symbol["pathComponents"][-1]
            if doc:
                source_module = doc.get("module")
                where = os.path.relpath(path_of(doc["uri"]), root) if doc.get("uri") else source_module
                if source_module in package_modules:
                    inherited.append((real, line, module, kind, name, f"inherits its comment from {where}"))
                    continue
                if source_module in STANDARD_MODULES and last in STANDARD_REQUIREMENTS:
                    inherited.append((real, line, module, kind, name, f"standard requirement ({source_module})"))
                    continue
                undocumented.append((real, line, module, kind, name, f"only {where}'s comment, inherited"))
                continue
            undocumented.append((real, line, module, kind, name, ""))

    if args.verbose:
        for real, line, module, kind, name, note in sorted(inherited):
            print(f"{real}:{line}: {module}: {kind} {name}: documented, {note}")
    for real, line, module, kind, name, note in sorted(undocumented):
        print(f"{real}:{line}: {module}: {kind} {name}: no doc comment" + (f" ({note})" if note else ""))

    by_module = defaultdict(int)
    for item in undocumented:
        by_module[item[2]] += 1
    print(f"\ncheck_docs: {sum(checked.values())} public symbols checked in {graph_dir}", file=sys.stderr)
    for module in sorted(checked):
        print(f"  {module:24} {checked[module]:5} checked, {by_module[module]:4} undocumented", file=sys.stderr)
    print(f"check_docs: {len(undocumented)} undocumented, {len(inherited)} documented by inheritance",
          file=sys.stderr)
    return 1 if undocumented else 0


if __name__ == "__main__":
    sys.exit(main())
