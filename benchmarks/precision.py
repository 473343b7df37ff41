"""What bf16 changes in the metrics: one stored model, evaluated in fp32 and in bf16 autocast.

    python benchmarks/precision.py results/demo/runs/<run-id> [--data-dir DIR] [--k 500] [--sentences 300]

Prints JSON: each metric in fp32 and bf16, the difference, the relative NLL
change, and the largest and mean per-sentence IW NLL difference (the same
sentences and draws on both sides), the measure the 0.01-nat bar of
docs/benchmarks.md reads. docs/benchmarks.md explains why evaluation
defaults to fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from bench.allocator import retain_freed_memory
from bench.evaluate import evaluation_subset, score
from bench.sampling import load_run

METRICS = ("nll", "ppl", "kl", "mi", "au", "elbo")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--k", type=int, default=None, help="IW samples (default: the run's eval.iw_samples)")
    parser.add_argument("--sentences", type=int, default=0,
                        help="score this many sentences of the split, the run's fixed sample (default: all)")
    args = parser.parse_args()
    retain_freed_memory()  # as every run does: without it, freed logits are faulted in anew each call

    run = load_run(args.run_dir, args.data_dir)
    from bench.data.datasets import load_corpus

    split = load_corpus(run.cfg.data, args.data_dir).splits[run.cfg.eval.split]
    sentences = evaluation_subset(split, args.sentences, run.cfg.data.split_seed)
    eval_cfg = run.cfg.eval
    if args.k:
        eval_cfg.iw_samples = args.k
    results, per_sentence = {}, {}
    for precision, context in (
        ("fp32", contextlib.nullcontext()),
        ("bf16", torch.autocast("cpu", dtype=torch.bfloat16)),
    ):
        started = time.perf_counter()
        evaluation = score(run.model, sentences, eval_cfg, seed=run.cfg.seed, device=torch.device("cpu"),
                           autocast=context)
        results[precision] = {key: evaluation.metrics[key] for key in METRICS}
        per_sentence[precision] = evaluation.sentences["nll_iw"]
        results[precision]["seconds"] = time.perf_counter() - started
    results["difference"] = {key: results["bf16"][key] - results["fp32"][key] for key in METRICS}
    results["nll_relative_change"] = results["difference"]["nll"] / results["fp32"]["nll"]
    gaps = (per_sentence["bf16"] - per_sentence["fp32"]).abs()
    results["nll_per_sentence_abs_difference"] = {"max": float(gaps.max()), "mean": float(gaps.mean())}
    results["sentences"] = len(sentences)
    results["run"] = str(args.run_dir)
    results["k"] = eval_cfg.iw_samples
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
