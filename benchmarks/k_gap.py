"""How much a k = 50 IW NLL overstates k = 500, for runs that use z and runs that collapsed.

The importance-weighted bound tightens with k, and it is loosest where the
posterior carries information (a collapsed q(z|x) is the prior, and the
bound is tight already at small k). So the real-text suites' k = 50 may be
biased against the remedies that escape. This script measures that gap on a
fixed subset of each run's test split, with the harness's own evaluation
(`bench.evaluate.evaluate`, same sentences for every run and both k), and
writes one CSV row per run and k, plus the gap per group (escaped or not,
by the verdict rule of `bench.report.escape`).

    python benchmarks/k_gap.py results/yelp-short-pytorch-init --data-dir DATA \\
        --sentences 200 --only remedy=none --only remedy=pretrain-fb --out docs/results/k-gap.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd
import torch

from bench.data.datasets import cached_corpus
from bench.evaluate import evaluation_subset, score
from bench.report.runs_frame import FINISHED, load_runs
from bench.report.verdicts import with_escapes
from bench.sampling import load_run
from bench.selection import parse_only
from bench.train import autocast

KS = (50, 500)


def run_gap(run_dir: Path, data_dir: str | None, sentences: int) -> list[dict]:
    """IW NLL of one run at each k in KS on the same fixed subset of its test split."""
    loaded = load_run(run_dir, data_dir)
    corpus = cached_corpus(loaded.cfg.data, data_dir)
    subset = evaluation_subset(corpus.splits[loaded.cfg.eval.split], sentences, loaded.cfg.data.split_seed)
    rows = []
    for k in KS:
        cfg = dataclasses.replace(loaded.cfg.eval, iw_samples=k)
        metrics = score(loaded.model, subset, cfg, seed=loaded.cfg.seed, device=torch.device("cpu"),
                           autocast=autocast("fp32", "cpu")).metrics
        rows.append({"run_id": run_dir.name, "k": k, "nll": metrics["nll"], "n_sentences": len(subset),
                     "seconds": metrics["timings"]["iw_nll_s"]})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a suite folder (holding runs/<run-id>/)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sentences", type=int, default=200, help="fixed test subset per run")
    parser.add_argument("--only", action="append", default=[], help="KEY=PATTERN, as `collapse-bench run`")
    parser.add_argument("--out", type=Path, required=True, help="CSV: one row per run and k")
    args = parser.parse_args(argv)
    selection = parse_only(args.only)
    runs = with_escapes(load_runs(args.store))
    chosen = [selection.matches(*fields) for fields in zip(runs["dataset"], runs["remedy"], runs["seed"],
                                                          strict=True)]
    runs = runs[(runs["status"] == FINISHED) & pd.Series(chosen, index=runs.index)]
    if runs.empty:
        print("Error: no finished run matches", file=sys.stderr)
        return 2
    rows = []
    for run in runs.itertuples():
        for row in run_gap(args.store / "runs" / run.run_id, args.data_dir, args.sentences):
            rows.append({**row, "remedy_label": run.remedy_label, "seed": run.seed, "escaped": run.escaped})
            print(f"{run.remedy_label} seed {run.seed} k={row['k']}: NLL {row['nll']:.3f} "
                  f"({row['seconds']:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["run_id", "remedy_label", "seed", "escaped"], columns="k",
                             values="nll").reset_index()
    wide["gap"] = wide[KS[0]] - wide[KS[1]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    wide.rename(columns={KS[0]: f"nll_k{KS[0]}", KS[1]: f"nll_k{KS[1]}"}).to_csv(args.out, index=False)
    print(wide.groupby("escaped")["gap"].describe().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
