"""Whether BN-VAE's KL floor held in each run: the encoder BatchNorm's running variance against its eps.

Zhu et al.'s floor (expected KL at least nz gamma^2 / 2) assumes the BatchNorm divides the encoder's
means by their batch standard deviation. It divides by sqrt(variance + eps): once the raw means vary
far less than eps (1e-5, PyTorch's default, which their code keeps), the normalised means shrink with
them and the floor is gone. This script reads each finished run's stored model (no data, no
evaluation) and writes, per run with an encoder BatchNorm: the running variance's spread, how many
units keep it above eps, and the floor those statistics give at evaluation, where BatchNorm uses them,

    1/2 * sum_j gamma_j^2 * v_j / (v_j + eps)     (v_j: unit j's running variance),

beside the nominal nz gamma^2 / 2 and the run's test KL. The evaluation floor is exact when the test
means vary as the running variance says; it is what the nominal floor becomes once eps dominates.

    python benchmarks/bn_variance.py results/zhu2020 --out docs/results/zhu2020/bn-variance.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from bench import store
from bench.config import RunConfig
from bench.errors import ConfigError
from bench.models import build_model
from bench.report.pages import save_table
from bench.report.runs_frame import FINISHED, load_runs
from bench.report.verdicts import with_escapes

EMBEDDING = "encoder.embed.weight"  # its rows: the vocabulary size the model was built for


def bn_row(run_dir: Path) -> dict | None:
    """The BatchNorm statistics of one stored run, or None when its encoder has no BatchNorm."""
    weights = store.load_torch(run_dir / store.MODEL)
    cfg = RunConfig.from_dict(store.read_json(run_dir / store.CONFIG))
    model = build_model(weights[EMBEDDING].shape[0], cfg.model)
    model.load_state_dict(weights)
    norm = model.encoder.bn
    if norm is None:
        return None
    variance = norm.running_var.double()
    gamma = norm.weight.detach().double()
    return {
        "nz": variance.numel(),
        "gamma_rms": gamma.pow(2).mean().sqrt().item(),
        "eps": norm.eps,
        "running_var_min": variance.min().item(),
        "running_var_median": variance.median().item(),
        "running_var_max": variance.max().item(),
        "units_var_above_eps": int((variance > norm.eps).sum()),
        "floor_nominal": 0.5 * gamma.pow(2).sum().item(),
        "floor_at_eval": 0.5 * (gamma.pow(2) * variance / (variance + norm.eps)).sum().item(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a suite folder (holding runs/<run-id>/)")
    parser.add_argument("--out", type=Path, required=True,
                        help="CSV: one row per run with an encoder BatchNorm")
    args = parser.parse_args(argv)
    try:
        runs = with_escapes(load_runs(args.store))
    except ConfigError as exc:  # no store there, or no run in it
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for run in runs[runs["status"] == FINISHED].itertuples():
        stats = bn_row(args.store / "runs" / run.run_id)
        if stats is not None:
            rows.append({"remedy_label": run.remedy_label, "seed": run.seed, "escaped": run.escaped,
                         "test_kl": run.kl, **stats})
    if not rows:
        print(f"Error: no finished run in {args.store} has an encoder BatchNorm", file=sys.stderr)
        return 2
    table = pd.DataFrame(rows).sort_values(["remedy_label", "seed"])
    save_table(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
