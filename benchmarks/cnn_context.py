"""How much of each sentence's history each dilated-CNN decoder sees, on a suite's evaluation split.

Yang et al.'s trade-off: a CNN decoder predicts a word from at most its receptive field of
preceding tokens, so a small one leaves more of the sentence to z. On short sentences that trade-off
is gone: once a sentence fits inside the receptive field the decoder sees its whole history, as an
LSTM does. This script reads a suite's corpus (no run, no model) and writes, per dataset and CNN
size, the share of predicted tokens (words and the end token) whose whole history lies inside the
receptive field and the share of sentences that fit entirely, over the whole evaluation split.

    python benchmarks/cnn_context.py yang2017 --data-dir DATA --out docs/results/yang2017/cnn-context.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.datasets import cached_corpus
from bench.errors import ConfigError
from bench.models.cnn_decoder import receptive_field
from bench.report.pages import save_table
from bench.suite import load_suite
from remedies.dilated_cnn import SIZES


def coverage(sentences: Sequence[Sequence[int]], field: int) -> dict:
    """What a decoder that sees `field` tokens back sees of these sentences.

    A sentence of n words has n + 1 targets; target t (1-based) is predicted from t inputs (the start
    token and the t - 1 words before it), all of them inside the field when t <= field.
    """
    targets = np.array([len(sentence) + 1 for sentence in sentences])
    return {
        "receptive_field": field,
        "sentences": len(targets),
        "targets": int(targets.sum()),
        "mean_targets": float(targets.mean()),
        "max_targets": int(targets.max()),
        "share_targets_whole_history": float(np.minimum(targets, field).sum() / targets.sum()),
        "share_sentences_inside": float((targets <= field).mean()),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="a suite file or built-in suite name (its datasets and data settings)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, required=True, help="CSV: one row per dataset and CNN size")
    args = parser.parse_args(argv)
    try:
        suite = load_suite(args.suite, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    rows, seen = [], set()
    for cell in suite.cells:
        cfg = cell.config
        key = (cfg.dataset, repr(cfg.data), cfg.eval.split)
        if key in seen:
            continue
        seen.add(key)
        sentences = cached_corpus(cfg.data, args.data_dir).splits[cfg.eval.split]
        for size, dilations in SIZES.items():
            rows.append({"dataset": cfg.dataset, "split": cfg.eval.split, "size": size,
                         **coverage(sentences, receptive_field(dilations))})
    table = pd.DataFrame(rows)
    save_table(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
