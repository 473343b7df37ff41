"""Run an authors' implementation and collapse-bench on one config, and print them side by side.

    python benchmarks/side_by_side.py aggressive+anneal \
        --repo ~/src/vae-lagging-encoder --data-dir ../shared/data --seeds 3 --epochs 2

The authors' repository is a local checkout the user fetched (never part of
this project): jxhe/vae-lagging-encoder for He et al. 2019's settings,
bohanli/vae-pretraining-encoder for Li et al. 2019's (pretrain-fb) and for
the constant KL weight of their `text_beta.py` (beta, with `--beta`), and
valdersoul/bn-vae, a fork of Li et al.'s code, for Zhu et al. 2020's
BN-VAE (bn-vae, with `--gamma`), haofuml/cyclical_annealing for Fu et al.
2019's language-model script (cyclical, with `--cycle` and
`--cycle-warmup`), and timbmg/Sentence-VAE for word dropout with a logistic
KL anneal (word-dropout, with `--keep` and `--anneal-steps`). The script
copies it to a temporary folder, writes one config module there for the
ptb-small files and the sizes asked for (for the last two, their data files:
benchmarks/authors_runs.py), runs its training script once per seed through
benchmarks/authors_launch.py and reads per-epoch validation and final test
KL / MI / AU from what it prints. He et al.'s and Li et al.'s runs are
stopped after their final test metrics, before the final importance-weighted
NLL, which the comparison does not use (batch-size-1 IW NLL takes longer
than training at these sizes); the other two end after `--epochs`. The
harness runs the same config through the Python API into `--out` (a normal
store: runs resume and are never redone), with the authors' optimiser and
batching where their protocol differs from He et al.'s (`Setting.harness_set`).

MI on both sides is the estimator the authors' script prints: He et al.'s
per-batch one (analytic entropy; the harness records it as `mi_batch`),
and for Li et al.'s scripts and BN-VAE's their whole-set one (the
harness's `mi`, which uses a shared sample instead of the analytic
entropy). The loss on both sides is the one-sample negative ELBO at KL
weight 1, which every script prints as `nll` (`text_beta.py`'s `avg_loss`
weights the KL by beta). Fu et al.'s and Sentence-VAE's scripts print no MI
and no active units: their tables compare KL and the loss only. Each cell is
mean +- sd over seeds.

"Agrees" is an equivalence test, not a failure to find a difference: two
one-sided Welch tests (TOST) that the means differ by less than the metric's
margin in MARGINS, fixed before the runs (docs/fidelity.md gives the reason
for each). A cell is *equivalent* when TOST p < 0.05, *not shown
equivalent* otherwise (with Welch's p beside it, so a detected difference
shows), or *constant on both sides*: equal constants (AU 0 vs 0) are
reported and not counted as agreement, unequal ones are a difference. The
seed count is `--seeds`, fixed before the runs; adding seeds after looking
at a table is not allowed.

`--json` keeps every run's numbers; `--csv` writes the table, one row per
cell with each side's n, mean and sd, the decision and its p-values
(bench/report/fidelity_tables.py), the file docs/fidelity.md draws a
re-run table from.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.config import parse_overrides  # noqa: E402  (the checkout's package, not an installed one)
from bench.errors import ConfigError  # noqa: E402
from bench.report.fidelity_tables import (  # noqa: E402
    ALPHA,
    COLUMNS,
    COMPARED,
    DIFFERENT,
    EQUIVALENT,
    IDENTICAL,
    NOT_SHOWN,
    UNTESTED,
    side_by_side_markdown,
)
from bench.report.stats import tost, welch  # noqa: E402
from benchmarks.authors_runs import ADAPTERS, FU_SCRIPT, SENTENCE_VAE_SCRIPT, launch  # noqa: E402
from remedies.registry import parse as parse_remedy  # noqa: E402

HE_SCRIPT = "text.py"  # He et al.'s training script; the others are Li et al.'s (and BN-VAE's fork of them)
HE_SEEDS = 10  # text.py picks its seed from a fixed list by --taskid
# Sentence-VAE's logistic KL weight 1 / (1 + exp(-k (step - x0))) has k = 0.0025, x0 = 2,500 by default:
# a slope of 12.5 over the 2 x0 steps the harness's kl-annealing(shape=logistic) warms up in.
STEEPNESS = 12.5
ADAM = ("train.optimizer=adam", "train.lr=0.001")  # Fu et al.'s and Sentence-VAE's optimiser

# Equivalence margins, per metric as the tables name it, the same for validation and test (both are
# PTB's test file here); fixed before the runs, and justified one by one in docs/fidelity.md.
MARGINS: dict[str, float] = {
    "kl": 0.5,  # nats: half the smallest real defect found (pretrain-fb's padded batches, 1.09 nats)
    "mi": 0.1,  # nats, whole-set estimate: about the escape rule's MI line at the suites' size (0.097)
    "mi_batch": 0.1,  # nats, He et al.'s per-batch estimate: a quarter of the lowest escaping mean (0.37)
    "au": 1.0,  # units: AU moves in whole units, and the escape rule's line is AU >= 1
    "loss": 1.0,  # nats, one-sample -ELBO: the verdicts' NLL margin ("NLL within 1 nat")
}


@dataclass(frozen=True)
class Setting:
    """One row of a paper's table, as the authors' scripts and as a harness remedy."""

    script: str  # the authors' training script: HE_SCRIPT, or text_anneal_fb.py / text_beta.py
    authors_args: tuple[str, ...]  # arguments of the authors' training script
    remedy: str  # the harness's remedy spec
    pretrain: bool = False  # Li et al.: an autoencoder stage (text_beta.py) first
    harness_set: tuple[str, ...] = ()  # KEY=VALUE: the harness on the authors' protocol where it is not He's

    @property
    def whole_set_mi(self) -> bool:
        """Li et al.'s scripts (and BN-VAE's) print a whole-set MI, He et al.'s a per-batch one."""
        return self.script != HE_SCRIPT


def settings(args: argparse.Namespace) -> dict[str, Setting]:
    """Every authors' row this script runs, at the sizes and parameters `args` asks for."""
    anneal = ("--kl_start", "0.1", "--warm_up", str(args.warm_up))
    return {
        "vanilla": Setting(HE_SCRIPT, ("--kl_start", "1.0"), "none"),
        "anneal": Setting(HE_SCRIPT, anneal, f"kl-annealing(start=0.1,epochs={args.warm_up})"),
        "aggressive": Setting(HE_SCRIPT, ("--aggressive", "1", "--kl_start", "1.0"), "aggressive"),
        "aggressive+anneal": Setting(HE_SCRIPT, ("--aggressive", "1", *anneal),
                                     f"aggressive+kl-annealing(start=0.1,epochs={args.warm_up})"),
        "pretrain-fb": Setting(
            "text_anneal_fb.py", ("--reset_dec", "--kl_start", "0", "--warm_up", str(args.warm_up),
                                  "--target_kl", str(args.target_kl), "--fb", "2", "--lr", "0.5"),
            f"pretrain-fb(pretrain_epochs={args.pretrain_epochs},warmup_epochs={args.warm_up},"
            f"target_kl={args.target_kl})",
            pretrain=True),
        # Their defaults give the rest: KL weight a constant 1 (--kl_start 1.0), no free bits, lr 1.0.
        "bn-vae": Setting("text_anneal_fb.py", ("--gamma", str(args.gamma)), f"bn-vae(gamma={args.gamma})"),
        "beta": Setting("text_beta.py", ("--beta", str(args.beta)), f"beta(beta={args.beta})"),
        # Their cycle and warm-up are whole epochs; the rest of the remedy's defaults are their script's.
        "cyclical": Setting(
            FU_SCRIPT, ("--cycle", str(args.cycle), "--warmup", str(args.cycle_warmup)),
            f"cyclical(cycles={args.epochs // args.cycle},ratio={args.cycle_warmup / args.cycle:g})",
            harness_set=(*ADAM, f"train.decay_after_epoch={args.epochs}")),  # no lr halving in theirs
        "word-dropout": Setting(
            SENTENCE_VAE_SCRIPT,
            ("--word_dropout", f"{1 - args.keep:g}", "--anneal_function", "logistic",
             "--k", repr(STEEPNESS / args.anneal_steps), "--x0", str(args.anneal_steps // 2)),
            f"word-dropout(keep={args.keep:g})+kl-annealing(shape=logistic,start=0,steps={args.anneal_steps},"
            f"steepness={STEEPNESS:g})",
            harness_set=(*ADAM, "train.clip=1e9", "train.batching=padded", "model.dropout_out=0",
                         "model.init=pytorch", f"train.decay_after_epoch={args.epochs}")),
    }


def missing_flags(script: Path, setting: Setting) -> list[str]:
    """The setting's flags that `script` never declares: a checkout of another repository (Li et al.'s
    text_anneal_fb.py has no --gamma, BN-VAE's fork has) would otherwise fail only once it runs."""
    source = script.read_text(encoding="utf-8")
    return [flag for flag in setting.authors_args
            if flag.startswith("--") and f"'{flag}'" not in source and f'"{flag}"' not in source]


NUMBER = r"([-\d.e+]+)"
VAL = re.compile(rf"(VAL|TEST) --- avg_loss: {NUMBER}, kl: {NUMBER}, mi: {NUMBER}, recon: {NUMBER}, "
                 rf"nll: {NUMBER}")
AU = re.compile(r"^(\d+) active units")


def training_file(repo: Path, args: argparse.Namespace) -> Path:
    """ptb-small's training file, or its first `--train-limit` lines (the harness's data.train_limit)."""
    source = Path(args.data_dir).resolve() / "ptb" / "ptb.valid.txt"
    if not args.train_limit:
        return source
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[: args.train_limit]
    limited = repo / "cbside.train.txt"
    limited.write_text("".join(lines), encoding="utf-8")
    return limited


def write_config(repo: Path, args: argparse.Namespace, epochs: int) -> str:
    """The authors' config module for ptb-small at the asked sizes; returns its dataset name."""
    data = Path(args.data_dir).resolve() / "ptb"
    params = {
        "enc_type": "lstm", "dec_type": "lstm", "nz": args.nz, "ni": args.hidden, "enc_nh": args.hidden,
        "dec_nh": args.hidden, "dec_dropout_in": 0.5, "dec_dropout_out": 0.5, "log_niter": 50,
        "batch_size": args.batch, "epochs": epochs, "test_nepoch": 10**6,
        "train_data": str(training_file(repo, args)), "val_data": str(data / "ptb.test.txt"),
        "test_data": str(data / "ptb.test.txt"),
    }
    (repo / "config" / "config_cbside.py").write_text(f"params = {params!r}\n")
    return "cbside"


def run_authors_script(repo: Path, argv: list[str]) -> Iterator[str]:
    """Yield the script's output lines; stop it after the final test's active-unit count.

    Both authors' scripts end with a TEST row followed by its AU line (the
    per-epoch TEST rows have none), then the batch-size-1 IW NLL, which the
    comparison does not use and which on a CPU takes longer than training.
    He et al.'s script announces that stage; Li et al.'s does not, so the
    stop is keyed on the line before it. Li et al.'s MI code calls `.cuda()` always: a no-op here.
    """
    return launch(repo, argv, patches=("cuda-calls",), stop=after_final_test)


def after_final_test(lines: list[str]) -> bool:
    """The last line is an AU count and the one before it a TEST row: the end of He et al.'s and Li et
    al.'s training."""
    return (len(lines) > 1 and AU.match(lines[-1].strip()) is not None and "TEST" in lines[-2]
            and VAL.search(lines[-2]) is not None)


def parse_log(lines: list[str]) -> dict[str, Any]:
    """Per-epoch VAL rows and the last TEST row (the best checkpoint), each with its AU line.

    The loss is the printed `nll`, rec + KL: the negative ELBO, as the harness's. It equals `avg_loss`
    in every script but text_beta.py, whose `avg_loss` is rec + beta x KL.
    """
    validation, test, pending = [], None, None
    for line in lines:
        match = VAL.search(line)
        if match:
            mode, _, kl, mi, rec, nll = match.groups()
            pending = (mode, {"loss": float(nll), "kl": float(kl), "mi": float(mi), "rec": float(rec)})
            continue
        match = AU.match(line.strip())
        if match and pending is not None:
            mode, row = pending
            row["au"] = int(match.group(1))
            if mode == "VAL":
                validation.append(row)
            else:
                test = row
            pending = None
    return {"validation": validation, "test": test}


def authors_argv(setting: Setting, dataset: str, seed: int, exp: Path) -> list[str]:
    """The authors' training command for one seed: He et al.'s takes it by --taskid (an index into their
    list of seeds), Li et al.'s scripts as --seed, with an experiment folder under `exp`."""
    if setting.script == HE_SCRIPT:
        return [HE_SCRIPT, "--dataset", dataset, "--taskid", str(seed), *setting.authors_args]
    argv = [setting.script, "--dataset", dataset, "--seed", str(seed), "--exp_dir", str(exp / "vae"),
            *setting.authors_args]
    return argv + (["--load_path", str(exp / "ae" / "model.pt")] if setting.pretrain else [])


def run_authors(setting: Setting, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One seed of the authors' code in a private copy of their checkout."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(args.repo, repo, ignore=shutil.ignore_patterns(".git"))
        if setting.script in ADAPTERS:
            parsed = ADAPTERS[setting.script](repo, setting.authors_args, seed, args)
            return {"side": "authors", "seed": seed, **parsed, "wall_s": time.perf_counter() - started}
        dataset = write_config(repo, args, args.epochs)
        exp = repo / "exp"
        if setting.pretrain:
            write_config(repo, args, args.pretrain_epochs)
            ae = ["text_beta.py", "--dataset", dataset, "--beta", "0", "--lr", "0.5",
                  "--seed", str(seed), "--exp_dir", str(exp / "ae")]
            list(run_authors_script(repo, ae))
            write_config(repo, args, args.epochs)
        parsed = parse_log(list(run_authors_script(repo, authors_argv(setting, dataset, seed, exp))))
    return {"side": "authors", "seed": seed, **parsed, "wall_s": time.perf_counter() - started}


def run_harness(setting: Setting, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One seed of collapse-bench on the same config, stored under `--out`."""
    import torch

    from bench.single_run import execute, plan_run, resolve

    torch.set_num_threads(1)
    overrides = {
        "model.nz": args.nz, "model.emb": args.hidden, "model.enc_hidden": args.hidden,
        "model.dec_hidden": args.hidden, "train.batch_size": args.batch, "train.epochs": args.epochs,
        "eval.iw_samples": args.iw_samples, "eval.mi_batch": args.batch,
        "eval.mi_estimator": "whole" if setting.whole_set_mi else "batch",
        "data.train_limit": args.train_limit,
        **parse_overrides([*setting.harness_set, *args.set]),
    }
    run = resolve("ptb-small", setting.remedy, seed, overrides)
    started = time.perf_counter()
    metrics = execute(plan_run(run, args.data_dir), Path(args.out), "side-by-side")
    if metrics["status"] != "finished":
        raise RuntimeError(f"harness run {run.run_id()} {metrics['status']}: {metrics.get('reason')}")
    mi_key = "mi" if setting.whole_set_mi else "mi_batch"
    validation = [{"loss": row["loss"], "kl": row["kl"], "mi": row[mi_key], "au": int(row["au"])}
                  for row in metrics["validation"]]
    test = {"loss": -metrics["test"]["elbo"], "kl": metrics["test"]["kl"], "mi": metrics["test"]["mi"],
            "au": metrics["test"]["au"], "nll": metrics["test"]["nll"]}
    return {"side": "harness", "seed": seed, "run_id": run.run_id(), "validation": validation,
            "test": test, "wall_s": time.perf_counter() - started,
            "reused": bool(metrics.get("already_finished")),
            "harness_train_s": metrics["timings"]["train_s"]}


Cell = tuple[str, str, list[float], list[float]]  # split, metric name, authors' values, harness values


@dataclass(frozen=True)
class Decision:
    """One cell's outcome: its kind (a key of fidelity_tables.KINDS), TOST's p where it was tested, Welch's p
    where equivalence was not shown (so a detected difference shows), and why a cell could not be tested."""

    kind: str
    tost_p: float = math.nan
    welch_p: float = math.nan
    reason: str = ""


def metric_name(metric: str, whole_set_mi: bool) -> str:
    """The name a metric's rows and margin go by: He et al.'s MI is the per-batch estimate, `mi_batch`."""
    return "mi_batch" if metric == "mi" and not whole_set_mi else metric


def decide(a: list[float], b: list[float], margin: float) -> Decision:
    """TOST within `margin`. Constants on both sides have no spread to test: equal ones are reported
    (not counted as agreement, which they would inflate), unequal ones are a difference."""
    if min(len(a), len(b)) >= 2 and len(set(a)) == 1 and len(set(b)) == 1:
        return Decision(IDENTICAL if a[0] == b[0] else DIFFERENT)
    test = tost(a, b, margin)
    if test.reason:
        return Decision(UNTESTED, reason=test.reason)
    if test.p < ALPHA:
        return Decision(EQUIVALENT, tost_p=test.p)
    return Decision(NOT_SHOWN, tost_p=test.p, welch_p=welch(a, b).p)


def shared_metrics(results: list[dict[str, Any]]) -> list[str]:
    """The metrics every run's final test has: Fu et al.'s and Sentence-VAE's scripts print no MI or AU."""
    return [metric for metric in COMPARED if all(metric in run["test"] for run in results)]


def by_side(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The runs of each side, authors' first, in run order."""
    return {side: [r for r in results if r["side"] == side] for side in ("authors", "harness")}


def comparisons(results: list[dict[str, Any]], whole_set_mi: bool) -> Iterator[Cell]:
    """Every cell of the table, seeds in run order: per-epoch validation for the epochs every run has,
    then the final test; the metrics both sides print."""
    sides = by_side(results)
    epochs = min(len(r["validation"]) for r in results)
    rows: list[tuple[str, Any]] = [(f"valid epoch {e + 1}", lambda r, e=e: r["validation"][e])
                                   for e in range(epochs)]
    rows.append(("test (best epoch)", lambda r: r["test"]))
    metrics = shared_metrics(results)
    for label, pick in rows:
        for metric in metrics:
            yield (label, metric_name(metric, whole_set_mi), [pick(r)[metric] for r in sides["authors"]],
                   [pick(r)[metric] for r in sides["harness"]])


def wall_seconds(runs: list[dict[str, Any]]) -> tuple[float, int]:
    """Mean wall time of the runs that trained, and how many were found finished: a harness run already in
    the store costs nothing now and would pull the mean down (authors' runs from --authors-from keep
    their measured time)."""
    trained = [r["wall_s"] for r in runs if not r.get("reused")]
    return (statistics.mean(trained) if trained else math.nan), len(runs) - len(trained)


def cells(results: list[dict[str, Any]], whole_set_mi: bool) -> pd.DataFrame:
    """One row per cell (fidelity_tables.COLUMNS): each side's n, mean and sd over seeds, the decision
    and its p-values, and each side's wall time per run."""
    sides = by_side(results)
    walls = {f"{side}_{key}": value for side, runs in sides.items()
             for key, value in zip(("wall_s", "found_finished"), wall_seconds(runs), strict=True)}
    rows = []
    for split, metric, a, b in comparisons(results, whole_set_mi):
        decision = decide(a, b, MARGINS[metric])
        spreads = {f"{side}_{key}": value for side, values in (("authors", a), ("harness", b))
                   for key, value in (("n", len(values)), ("mean", statistics.mean(values)),
                                      ("sd", statistics.stdev(values) if len(values) > 1 else math.nan))}
        rows.append({"split": split, "metric": metric, "margin": MARGINS[metric], **spreads,
                     "decision": decision.kind, "tost_p": decision.tost_p, "welch_p": decision.welch_p,
                     "reason": decision.reason, **walls})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def seed_rule(seeds: int, reused_seeds: int | None) -> str:
    """The output's statement of the seed rule; names an --authors-from comparison that gets seeds added,
    since that is only sound where the larger count was fixed before the smaller table was seen."""
    line = (f"Seeds: {seeds} a side, fixed before the runs (--seeds); the rule forbids adding seeds after "
            "looking at a result.")
    if reused_seeds is not None and reused_seeds < seeds:
        line += (f" This run adds seeds to a {reused_seeds}-seed comparison (--authors-from): valid only if "
                 f"{seeds} was fixed before that comparison was looked at.")
    return line


# Options that do not change what either side computes, or only the harness's side.
NOT_SHARED = ("repo", "jobs", "out", "json", "csv", "set", "authors_from", "iw_samples", "seeds")


def earlier_authors_runs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """The authors' runs of an earlier --json for seeds below --seeds, refused unless it ran this setting on
    the same config; the seeds it lacks are run as usual."""
    earlier = json.loads(Path(args.authors_from).read_text())
    config = earlier.get("config", {})  # an option added since it ran is taken at its default
    differing = sorted(key for key, value in vars(args).items()
                       if key not in NOT_SHARED and config.get(key, parser.get_default(key)) != value)
    if earlier.get("setting") != args.setting or differing:
        parser.error(f"{args.authors_from} ran another config ({', '.join(differing) or 'setting'} differ)")
    return [run for run in earlier["runs"] if run["side"] == "authors" and run["seed"] < args.seeds]


def positive(text: str) -> int:
    """An argparse type: a whole number above 0 (a cycle, a warm-up: `settings` divides by them)."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("setting", help="vanilla, anneal, aggressive, aggressive+anneal (He et al.), "
                                        "pretrain-fb, beta (Li et al.), bn-vae (Zhu et al.), cyclical "
                                        "(Fu et al.) or word-dropout (timbmg/Sentence-VAE)")
    parser.add_argument("--repo", required=True, help="local checkout of the authors' repository")
    parser.add_argument("--data-dir", required=True, help="folder holding ptb/ptb.valid.txt and ptb.test.txt")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--nz", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=50, help="embedding and LSTM size, both halves")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warm-up", type=int, default=10, help="KL warm-up epochs (anneal settings)")
    parser.add_argument("--pretrain-epochs", type=int, default=5, help="pretrain-fb: autoencoder epochs")
    parser.add_argument("--target-kl", type=float, default=8.0, help="pretrain-fb: free-bits target")
    parser.add_argument("--beta", type=float, default=0.4, help="beta: the constant KL weight")
    parser.add_argument("--gamma", type=float, default=0.5, help="bn-vae: the BatchNorm scale on the mean")
    parser.add_argument("--cycle", type=positive, default=2, help="cyclical: epochs a cycle (their --cycle)")
    parser.add_argument("--cycle-warmup", type=positive, default=1,
                        help="cyclical: epochs of a cycle's KL ramp (their --warmup)")
    parser.add_argument("--keep", type=float, default=0.5, help="word-dropout: the word keep probability")
    parser.add_argument("--anneal-steps", type=positive, default=126,
                        help="word-dropout: steps of the logistic KL warm-up, even (their x0 is half)")
    parser.add_argument("--train-limit", type=int, default=0,
                        help="train on the first N sentences of ptb-small's training file (0: all 3,370)")
    parser.add_argument("--iw-samples", type=int, default=10, help="harness IW NLL samples (not compared)")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one thread each")
    parser.add_argument("--out", default=str(ROOT / "results"), help="harness store")
    parser.add_argument("--json", help="write every run's numbers here")
    parser.add_argument("--csv", help="write the table here, one row per cell (docs/fidelity.md draws its "
                                      "tables from these files)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a harness setting on top of the shared config, repeatable "
                             "(e.g. train.batching=by-length); the authors' side is unchanged")
    parser.add_argument("--authors-from", metavar="JSON",
                        help="take the authors' runs from an earlier --json of the same config "
                             "instead of running them again (seeds it lacks still run)")
    args = parser.parse_args()
    if args.setting == "cyclical" and (args.epochs % args.cycle or args.cycle_warmup > args.cycle):
        parser.error(f"cyclical: --epochs {args.epochs} must be whole cycles of --cycle {args.cycle} epochs, "
                     f"and --cycle-warmup {args.cycle_warmup} within one")
    if args.setting == "word-dropout" and args.anneal_steps % 2:
        parser.error(f"word-dropout: --anneal-steps {args.anneal_steps} must be even (their x0, an integer, "
                     "is half of it)")
    known = settings(args)
    if args.setting not in known:
        parser.error(f"unknown setting '{args.setting}'; one of {', '.join(known)}")
    setting = known[args.setting]
    try:
        parse_remedy(setting.remedy)
    except ConfigError as exc:
        parser.error(str(exc))
    if setting.script == HE_SCRIPT and args.seeds > HE_SEEDS:
        parser.error(f"--seeds {args.seeds}: He et al.'s text.py has {HE_SEEDS} seeds (its --taskid picks "
                     f"one from a fixed list), so seeds past {HE_SEEDS - 1} would repeat theirs")
    script = Path(args.repo) / setting.script
    if not script.is_file():
        parser.error(f"{args.repo} has no {setting.script}: give a checkout of the authors' repository")
    missing = missing_flags(script, setting)
    if missing:
        parser.error(f"{script} takes no {', '.join(missing)}: is {args.repo} the repository this setting "
                     "needs (docs/fidelity.md)?")
    earlier = earlier_authors_runs(args, parser) if args.authors_from else []
    reused = {run["seed"] for run in earlier}
    jobs = [(run, seed) for seed in range(args.seeds) for run in (run_authors, run_harness)
            if not (run is run_authors and seed in reused)]
    results = earlier + Parallel(n_jobs=args.jobs)(delayed(run)(setting, seed, args) for run, seed in jobs)
    sentences = (f"first {args.train_limit} training sentences" if args.train_limit
                 else "3,370 training sentences")
    title = (f"{args.setting}, {setting.remedy}: ptb-small ({sentences}), nz {args.nz}, "
             f"hidden {args.hidden}, batch {args.batch}, {args.epochs} epochs, {args.seeds} seeds")
    decided = cells(results, setting.whole_set_mi)
    print(f"### {title}\n\n" + side_by_side_markdown(decided))
    print(seed_rule(args.seeds, len(reused) if args.authors_from else None))
    if args.json:
        Path(args.json).write_text(json.dumps({"setting": args.setting, "config": vars(args), "alpha": ALPHA,
                                               "margins": MARGINS, "runs": results}, indent=1))
    if args.csv:
        decided.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
