#!/usr/bin/env python3
"""Writes the inputs of the golden files in this folder and the expected result of parsing
calibration.jsonl, with the Python standard library only (see README.md).

  vectors.fvecs      16 distinct vectors x 6 dimensions, multiples of 1/4 in [-2, 2] (exact)
  model.safetensors  a toy model written by hand from the safetensors specification
  calibration.expected.json
                     calibration.jsonl parsed by the rules documented on CalibrationSet
                     (Sources/ArrowheadQuant/CalibrationSet.swift), implemented here
                     independently of the Swift parser

Every value comes from an integer formula, so the files are the same on any machine.
"""
import json
import struct
import sys
from pathlib import Path


def float32(value):
    """value rounded to the nearest float32 (ties to even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def vectors():
    rows = [[(((r * 6 + c) * 7919 + 13) % 17 - 8) / 4 for c in range(6)] for r in range(16)]
    assert len({tuple(row) for row in rows}) == len(rows), "vectors must be distinct"
    return rows


def write_fvecs(path, rows):
    with open(path, "wb") as out:
        for row in rows:
            out.write(struct.pack("<i", len(row)))
            out.write(struct.pack("<%df" % len(row), *row))


def weights(count, seed):
    """Dyadic values (k / 4096, |k| <= 1000): exact in float32 and float16."""
    return [((i * 7919 + seed * 104729) % 2001 - 1000) / 4096 for i in range(count)]


def write_safetensors(path, tensors, metadata):
    """tensors: (name, dtype, shape, raw bytes) in file order."""
    header = {"__metadata__": metadata}
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + data)


def model():
    def f32(values):
        return struct.pack("<%df" % len(values), *values)

    def f16(values):
        return struct.pack("<%de" % len(values), *values)

    return [
        ("embed.weight", "F32", [4, 8], f32(weights(32, 1))),
        ("layer.a.weight", "F32", [6, 24], f32(weights(144, 2))),
        ("layer.a.bias", "F32", [6], f32(weights(6, 3))),
        ("layer.b.weight", "F16", [5, 20], f16(weights(100, 4))),
        ("position_ids", "I64", [1, 4], struct.pack("<4q", 0, 1, 2, 3)),
    ]


def parse_calibration(lines):
    """The documented rules: one object per line, blank lines skipped, unknown keys ignored;
    samples, or min/max with optional count and percentiles; numbers become float32;
    records of the same layer and timestep merge (extremes widen, counts and samples add
    up, a percentile given twice keeps the smaller value below 50 and the larger above)."""
    layers, statistics = [], {}
    for line in lines:
        if not line.strip(" \t\r"):
            continue
        record = json.loads(line)
        layer, timestep = record["layer"], record["timestep"]
        if "samples" in record:
            samples = [float32(v) for v in record["samples"]]
            new = {"min": min(samples), "max": max(samples), "count": len(samples), "samples": samples, "percentiles": {}}
        else:
            low, high = float32(record["min"]), float32(record["max"])
            new = {"min": low, "max": high, "count": record.get("count", 1), "samples": [],
                   "percentiles": {float(k): float32(v) for k, v in record.get("percentiles", {}).items()}}
        if layer not in statistics:
            layers.append(layer)
            statistics[layer] = {}
        old = statistics[layer].get(timestep)
        if old is None:
            statistics[layer][timestep] = new
            continue
        old["min"], old["max"] = min(old["min"], new["min"]), max(old["max"], new["max"])
        old["count"] += new["count"]
        old["samples"] += new["samples"]
        for percent, value in new["percentiles"].items():
            if percent in old["percentiles"]:
                keep = min if percent < 50 else max
                old["percentiles"][percent] = keep(old["percentiles"][percent], value)
            else:
                old["percentiles"][percent] = value
    return {
        "layers": layers,
        "statistics": {
            layer: [
                {"timestep": t, **{k: v for k, v in record.items() if k != "percentiles"},
                 "percentiles": [[p, record["percentiles"][p]] for p in sorted(record["percentiles"])]}
                for t, record in sorted(statistics[layer].items())
            ]
            for layer in layers
        },
    }


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    write_fvecs(folder / "vectors.fvecs", vectors())
    write_safetensors(folder / "model.safetensors", model(), {"format": "pt"})
    lines = (folder / "calibration.jsonl").read_bytes().decode().split("\n")
    expected = parse_calibration(lines)
    (folder / "calibration.expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
