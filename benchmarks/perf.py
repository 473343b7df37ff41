"""Speed benchmark on ptb-small: train tok/s, IW NLL sent/s, MI + AU seconds, peak RSS.

Training, IW and aggressive rows also carry ceilings measured on this machine
(benchmarks/ceilings.py): the model's big kernels alone (output layer and
LSTMs, with the output layer's share apart), and the step's matmul FLOPs at
the best measured rate. A target above them is out of reach of the harness.

Each measurement runs in its own subprocess, so its peak RSS is its own and
one measurement cannot warm another's caches. Prints one JSON object; with
--markdown, also a table of it (each row beside its reference and
ceilings); with --csv, each measurement against its FLOP bounds (and, with
--before, the old revision's median and the speed-up), the file
docs/benchmarks.md draws its tables from. Ratios are against reference
figures: He et al.'s own code timed on this split with 2 cores (midpoints
of the measured ranges; docs/benchmarks.md, "The reference figures");
machines differ by up to 30%, so compare ratios taken in one sitting.

    python benchmarks/perf.py                      # everything, ~5-10 minutes on 2 cores
    python benchmarks/perf.py --quick              # fewer steps and sentences
    python benchmarks/perf.py --only train-small-fp32 --only iw-small-fp32
    python benchmarks/perf.py --with-demo           # also the demo suite's wall time
    python benchmarks/perf.py --only cell-suite-fp32  # one ptb-small cell of the verdicts (~10 min)
    python benchmarks/perf.py --only slice-suite-fp32  # ptb-small's seed-0 slice, 2 workers (~25 min)
    python benchmarks/perf.py --before HEAD~3 --only iw-suite-fp32   # before and after, in one sitting
    python benchmarks/perf.py --only iw-suite-fp32 --threads 1 --csv docs/results/speed/perf.csv

With --before REV each measurement runs --pairs times on REV's code (a
temporary git worktree, imported through PYTHONPATH) and on this checkout's,
alternating, so both see the same machine; the row reports the median of
each side and their ratio. The measuring script is this one for both sides,
so REV must offer the functions it calls.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ceilings

ROOT = Path(__file__).resolve().parents[1]

SIZES = {
    "small": {"model.nz": 2, "model.emb": 50, "model.enc_hidden": 50, "model.dec_hidden": 50,
              "train.batch_size": 16},
    "large": {"model.nz": 32, "model.emb": 512, "model.enc_hidden": 1024, "model.dec_hidden": 1024,
              "train.batch_size": 32},
    # the ptb-small suite's cells (bench/suites/ptb-small.toml): nz 16, 64 / 64, batch 32
    "suite": {"model.nz": 16, "model.emb": 64, "model.enc_hidden": 64, "model.dec_hidden": 64,
              "train.batch_size": 32},
}

# The ranges measured with He et al.'s code on ptb-small, 2 cores, fp32: the table of
# docs/benchmarks.md, "The reference figures", drawn from this file.
REFERENCE_FIGURES = ROOT / "docs" / "results" / "speed" / "reference-figures.csv"


def reference_midpoints(path: Path = REFERENCE_FIGURES) -> dict[str, dict[str, float]]:
    """metric -> size -> the midpoint of the reference range: what each row's speed-up is taken against."""
    midpoints: dict[str, dict[str, float]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            midpoint = (float(row["low"]) + float(row["high"])) / 2
            midpoints.setdefault(row["metric"], {})[row["size"]] = midpoint
    return midpoints


REFERENCE = {**reference_midpoints(),
             "demo_suite_s": {"suite": 600.0}}  # not a reference: issue 8's bound for the demo suite

# How much work each measurement does (full, quick).
WORK = {
    "train": {"small": (200, 60), "large": (24, 8), "suite": (200, 60)},  # training steps timed
    "iw": {"small": (400, 100), "large": (16, 6), "suite": (200, 60)},  # test sentences scored at k = 500
}

MEASUREMENTS = [
    f"{kind}-{size}-{precision}"
    for kind in ("train", "iw")
    for size in ("small", "large")
    for precision in ("fp32", "bf16")
] + ["train-suite-fp32", "iw-suite-fp32", "epoch-suite-fp32", "miau-small-fp32", "miau-large-fp32",
     "aggressive-small-fp32"]
DEMO = "demo-suite-fp32"  # the whole demo suite in a temporary folder; only with --with-demo
CELL = "cell-suite-fp32"  # one ptb-small cell of the verdicts, about 10 minutes; only when named in --only
CELL_REMEDY = "remedy=aggressive+*"
SLICE = "slice-suite-fp32"  # ptb-small's seed 0: every cell kind once, about 25 minutes; only when named


def _setup(size: str, precision: str, data_dir: str | None, remedy: str = "none", *,
           dataset: str = "ptb-small", device: str = "cpu") -> Any:
    """A trainer at `size` on `dataset`, weights seeded, no per-step diagnostics (as a suite cell's)."""
    import torch

    from bench.allocator import retain_freed_memory
    from bench.single_run import plan_run, resolve
    from bench.train import Trainer

    retain_freed_memory()  # as `bench.single_run.execute` does for every run
    torch.manual_seed(0)
    run = resolve(dataset, remedy, 0, {
        **SIZES[size], "train.diag_every": 0, "train.precision": precision, "eval.precision": precision,
        "train.device": device,
    })
    return Trainer(run.config, plan_run(run, data_dir).corpus, run.remedy)


def timed(step: Any, batches: list[Any], device: Any) -> tuple[int, float]:
    """Target tokens and seconds of `step` over `batches` after 3 warm-up steps on the first of them
    (allocator, kernels); on a GPU the clock stops only when the device has finished."""
    import torch

    def finish() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for batch in batches[:3]:
        step(batch)
    finish()
    started = time.perf_counter()
    for batch in batches[3:]:
        step(batch)
    finish()
    return sum(batch.n_words for batch in batches[3:]), time.perf_counter() - started


def timed_steps(trainer: Any, steps: int) -> tuple[int, float]:
    """`timed` for the trainer's own training steps: `steps` of them, cycling through its batches."""
    batches = trainer.train_batches
    chosen = [batches[index % len(batches)] for index in range(steps + 3)]
    return timed(trainer.run_step, chosen, trainer.device)


def _step_kernels_seconds(trainer: Any, tokens: int, precision: str) -> tuple[float, float]:
    """Seconds of a training step's output layer, and of its two LSTMs, alone (forward and backward).

    Every step, aggressive training's encoder-only ones included, computes
    both halves' weight gradients: the authors' clip needs their joint norm.
    """
    model, batch = trainer.cfg.model, trainer.cfg.train.batch_size
    length = max(1, round(tokens / batch))
    output_s = ceilings.output_layer_seconds(tokens, model.dec_hidden, len(trainer.corpus.vocab), precision,
                                             "all")
    lstms_s = (ceilings.lstm_seconds(batch, length, model.emb, model.enc_hidden, precision, "all")
               + ceilings.lstm_seconds(batch, length, model.emb + model.nz, model.dec_hidden, precision,
                                       "all"))
    return output_s, lstms_s


def measure_train(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Target tokens per second over training steps (forward, backward, clip, two SGD steps)."""
    trainer = _setup(size, precision, data_dir)
    steps = WORK["train"][size][quick]
    tokens, seconds = timed_steps(trainer, steps)
    model = trainer.cfg.model
    per_step = round(tokens / steps)
    vocab = len(trainer.corpus.vocab)
    output_s, lstms_s = _step_kernels_seconds(trainer, per_step, precision)
    flops = ceilings.train_flops_per_token(model.emb, model.nz, model.enc_hidden, model.dec_hidden, vocab)
    peak = ceilings.peak_matmul_flops(precision, (per_step, model.dec_hidden, vocab))
    return {"train_tok_s": tokens / seconds, "steps": steps, "tokens": tokens, "seconds": seconds,
            "ceiling_output_layer": per_step / output_s, "ceiling_kernels": per_step / (output_s + lstms_s),
            "ceiling_matmul": peak / flops,
            "ceiling_output_flops": peak / (3 * ceilings.output_layer_flops(model.dec_hidden, vocab))}


def measure_iw(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Sentences per second of the IW NLL at k = 500 on the first test sentences."""
    from bench.evaluate import score
    from bench.train import autocast

    trainer = _setup(size, precision, data_dir)
    count = WORK["iw"][size][quick]
    sentences = trainer.corpus.splits["test"][:count]
    cfg = trainer.cfg
    result = score(trainer.model, sentences, cfg.eval, seed=0, device=trainer.device,
                      autocast=autocast(cfg.eval.precision, cfg.train.device)).metrics
    seconds = result["timings"]["iw_nll_s"]
    model, vocab = cfg.model, len(trainer.corpus.vocab)
    cells = sum(len(sentence) + 1 for sentence in sentences) * cfg.eval.iw_samples  # +1: end of sentence
    per_call = cfg.eval.iw_tokens  # cells per decoder call (the LSTM's batch)
    block = ceilings.scoring_block(vocab, per_call)  # cells per output-layer product
    output_s = ceilings.output_layer_seconds(block, model.dec_hidden, vocab, precision, "none")
    output_s *= cells / block
    length = round(cells / (count * cfg.eval.iw_samples))  # mean target length
    lstm_s = ceilings.lstm_seconds(max(1, per_call // length), length, model.emb + model.nz,
                                   model.dec_hidden, precision, "none") * cells / per_call
    flops = ceilings.iw_flops_per_cell(model.emb, model.nz, model.dec_hidden, vocab) * cells
    peak = ceilings.peak_matmul_flops(precision, (block, model.dec_hidden, vocab))
    return {"iw_sent_s": count / seconds, "sentences": count, "k": cfg.eval.iw_samples,
            "seconds": seconds, "nll": result["nll"],
            "ceiling_output_layer": count / output_s, "ceiling_kernels": count / (output_s + lstm_s),
            "ceiling_matmul": count * peak / flops,
            "ceiling_output_flops": count * peak / (ceilings.output_layer_flops(model.dec_hidden, vocab)
                                                    * cells)}


def measure_miau(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Seconds to encode the whole test split and compute MI (whole set) and AU."""
    import torch

    from bench.evaluate import encode_all, split_batches
    from bench.metrics import active_units, mutual_info

    trainer = _setup(size, precision, data_dir)
    sentences = trainer.corpus.splits["test"]
    started = time.perf_counter()
    mu, logvar = encode_all(trainer.model, split_batches(sentences), trainer.device)
    mutual_info(mu, logvar, torch.Generator().manual_seed(0))
    active_units(mu)
    return {"mi_au_s": time.perf_counter() - started, "sentences": len(sentences)}


def measure_aggressive(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Seconds of one aggressive epoch (train steps only), and inner encoder steps per batch."""
    trainer = _setup(size, precision, data_dir, remedy="aggressive")
    batches = trainer.train_batches if not quick else trainer.train_batches[:40]
    started = time.perf_counter()
    for batch in batches:
        trainer.run_step(batch)
    seconds = time.perf_counter() - started
    inner = getattr(trainer.remedy, "inner_steps", [])
    epoch_seconds = seconds * len(trainer.train_batches) / len(batches)
    inner_mean = sum(inner) / len(inner) if inner else 0.0
    # Floor: per batch, the big kernels of the inner steps and of the decoder step, all full steps.
    tokens = round(sum(batch.n_words for batch in batches) / len(batches))
    output_s, lstms_s = _step_kernels_seconds(trainer, tokens, precision)
    steps = len(trainer.train_batches) * (inner_mean + 1)
    return {"aggressive_epoch_s": epoch_seconds, "batches_timed": len(batches),
            "inner_steps_per_batch": inner_mean,
            "ceiling_kernels": steps * (output_s + lstms_s), "ceiling_output_layer": steps * output_s}


def measure_epoch(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Seconds of one whole `none` epoch as a suite cell runs it: its training steps, then validation
    (the one-sample ELBO over the validation split, MI, AU) and model selection."""
    trainer = _setup(size, precision, data_dir)
    started = time.perf_counter()
    trainer.run_epoch()
    seconds = time.perf_counter() - started
    steps = trainer.step_seconds
    return {"epoch_s": seconds, "steps_s": steps, "validation_s": seconds - steps}


def _run_seconds(*arguments: str) -> float:
    """Wall seconds of `collapse-bench run ARGUMENTS` into an empty folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.cli", "run", *arguments, "--out", out, "--quiet"],
                       check=True, capture_output=True)
        return time.perf_counter() - started


def measure_demo(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Wall seconds of `collapse-bench run demo` into an empty folder (2 workers x 1 thread)."""
    return {"demo_suite_s": _run_seconds("demo")}


def measure_cell(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Wall seconds of one cell that decides a verdict, as `run` trains and scores it alone: ptb-small's
    aggressive + anneal cell of seed 0 (He et al.'s main row, 10 seeds in the suite)."""
    data = ["--data-dir", data_dir] if data_dir else []
    return {"cell_s": _run_seconds("ptb-small", "--only", CELL_REMEDY, "--only", "seed=0", *data)}


def measure_slice(size: str, precision: str, data_dir: str | None, quick: bool) -> dict[str, Any]:
    """Wall seconds of ptb-small's seed-0 slice as `run` trains and scores it (2 workers x 1 thread):
    21 of the suite's 105 cells, every kind of cell once, the two aggressive kinds the longest."""
    data = ["--data-dir", data_dir] if data_dir else []
    return {"slice_s": _run_seconds("ptb-small", "--only", "seed=0", *data)}


KINDS = {"train": measure_train, "iw": measure_iw, "miau": measure_miau, "aggressive": measure_aggressive,
         "epoch": measure_epoch, "demo": measure_demo, "cell": measure_cell, "slice": measure_slice}


def run_one(name: str, data_dir: str | None, quick: bool, threads: int) -> dict[str, Any]:
    """Run one measurement in this process and add its peak RSS."""
    import torch

    torch.set_num_threads(threads)
    kind, size, precision = name.split("-")
    result = KINDS[kind](size, precision, data_dir, quick)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"name": name, "size": size, "precision": precision, "threads": threads,
            "peak_rss_mb": rss_kb / 1024, **result}


# Per kind: the metric, its unit, and whether higher is better.
METRIC = {
    "train": ("train_tok_s", "tok/s", True),
    "iw": ("iw_sent_s", "sent/s", True),
    "miau": ("mi_au_s", "s", False),
    "aggressive": ("aggressive_epoch_s", "s", False),
    "epoch": ("epoch_s", "s", False),
    "demo": ("demo_suite_s", "s", False),
    "cell": ("cell_s", "s", False),
    "slice": ("slice_s", "s", False),
}


def speedup(row: dict[str, Any]) -> float | None:
    """How many times faster than the reference (None where no reference figure exists)."""
    metric, _, higher_is_better = METRIC[row["name"].split("-")[0]]
    reference = REFERENCE.get(metric, {}).get(row["size"])
    if reference is None:
        return None
    return row[metric] / reference if higher_is_better else reference / row[metric]


def ceiling_cells(row: dict[str, Any], unit: str, reference: Any, higher_is_better: bool) -> str:
    """A row's ceilings and the speed-up over the reference that the tightest one allows.

    For a time (lower is better) a ceiling is a floor: the fewest seconds possible.
    """
    if "ceiling_kernels" not in row:
        return "- | - |"
    bounds = [row["ceiling_kernels"], *([row["ceiling_matmul"]] if "ceiling_matmul" in row else [])]
    tightest = min(bounds) if higher_is_better else max(bounds)
    allowed = "-"
    if isinstance(reference, (int, float)):
        allowed = f"{(tightest / reference if higher_is_better else reference / tightest):.1f}x"
    matmul = f" / {row['ceiling_matmul']:,.1f}" if "ceiling_matmul" in row else " / -"
    return (f"{row['ceiling_kernels']:,.1f} ({row['ceiling_output_layer']:,.1f}){matmul} {unit} | "
            f"{allowed} |")


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    yes_no = {True: "yes", False: "no", None: "unknown"}
    before = results.get("before")
    lines = [
        f"Measured on {machine['cpu']} (AMX bf16: {yes_no[machine.get('amx_bf16')]}, AVX-512 bf16: "
        f"{yes_no[machine.get('avx512_bf16')]}), torch {machine['torch']}, {results['threads']} threads"
        f"{', --quick' if results['quick'] else ''}.",
        "",
        "| measurement | value | reference (He et al.'s code) | speed-up | peak RSS MB (reference) "
        "| ceilings: big kernels (output layer alone) / matmul peak | speed-up the ceilings allow |"
        + (f" before ({before}), median | speed-up over before |" if before else ""),
        "|---|---|---|---|---|---|---|" + ("---|---|" if before else ""),
    ]
    for row in results["measurements"]:
        metric, unit, higher_is_better = METRIC[row["name"].split("-")[0]]
        reference = REFERENCE.get(metric, {}).get(row["size"], "-")
        ratio = f"{row['speedup']:.2f}x" if row["speedup"] else "-"
        rss_reference = REFERENCE["peak_rss_mb"].get(row["size"], "-")
        ceilings_text = ceiling_cells(row, unit, reference, higher_is_better)
        then = f" {row['before']:,.2f} {unit} | {row['speedup_over_before']:.2f}x |" if before else ""
        lines.append(f"| {row['name']} | {row[metric]:,.2f} {unit} | {reference} {unit} | {ratio} | "
                     f"{row['peak_rss_mb']:.0f} ({rss_reference}) | {ceilings_text}{then}")
    return "\n".join(lines) + "\n"


def times_slower_than(row: dict[str, Any], bound: str) -> float | None:
    """How many times slower than the ceiling `bound` the row ran (1: at the ceiling); None without it."""
    if bound not in row:
        return None
    metric, _, higher_is_better = METRIC[row["name"].split("-")[0]]
    return row[bound] / row[metric] if higher_is_better else row[metric] / row[bound]


def bounds_table(results: dict[str, Any], measured_on: str) -> Any:
    """One row per measurement with its ceilings, how far under its FLOP bounds it ran and, with
    --before, the old revision's median and the speed-up over it (`value` is then this checkout's
    median): the CSV behind docs/benchmarks.md's measured-bound tables (`--csv`; bench.report.pages
    draws them). Bounds a measurement has none of (times; sizes without a FLOP count) stay blank."""
    import pandas as pd

    machine = results["machine"]
    rows = []
    for row in results["measurements"]:
        metric, unit, _ = METRIC[row["name"].split("-")[0]]
        rows.append({
            "measured_on": measured_on, "cpu": machine["cpu"], "amx_bf16": machine.get("amx_bf16"),
            "torch": machine["torch"], "threads": results["threads"], "measurement": row["name"],
            "value": row[metric], "unit": unit, "peak_rss_mb": row["peak_rss_mb"],
            "big_kernels": row.get("ceiling_kernels"),
            "output_layer_kernels": row.get("ceiling_output_layer"),
            "matmul_flop_bound": row.get("ceiling_matmul"),
            "output_layer_flop_bound": row.get("ceiling_output_flops"),
            "times_matmul_flop_bound": times_slower_than(row, "ceiling_matmul"),
            "times_output_layer_flop_bound": times_slower_than(row, "ceiling_output_flops"),
            "before_revision": row.get("before_revision"), "before": row.get("before"),
            "speedup_over_before": row.get("speedup_over_before"),
        })
    return pd.DataFrame(rows)


class MeasurementFailed(RuntimeError):
    """A measurement's child process exited with an error (its last stderr lines are the message)."""


def measure_in_child(name: str, args: argparse.Namespace, source: Path | None = None) -> dict[str, Any]:
    """One measurement in a fresh process, on this checkout's code or on `source`'s (a worktree)."""
    command = [sys.executable, __file__, "--one", name, "--threads", str(args.threads)]
    command += ["--quick"] if args.quick else []
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise MeasurementFailed(done.stderr.strip()[-500:])
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A temporary detached git worktree of `revision`, removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), revision],
                       check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


def before_and_after(name: str, args: argparse.Namespace, source: Path) -> dict[str, Any]:
    """`args.pairs` alternating runs on the old code and this checkout's: the row of the median
    after-run, with the before-median and the speed-up (above 1: faster now) beside it."""
    metric, _, higher_is_better = METRIC[name.split("-")[0]]
    befores, afters = [], []
    for _ in range(args.pairs):
        befores.append(measure_in_child(name, args, source)[metric])
        afters.append(measure_in_child(name, args))
    row = sorted(afters, key=lambda result: result[metric])[len(afters) // 2]
    before, after = statistics.median(befores), statistics.median(result[metric] for result in afters)
    return {**row, "before": before, "before_all": befores,
            "after_all": [result[metric] for result in afters], "before_revision": args.before,
            "speedup_over_before": after / before if higher_is_better else before / after}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=None, help="folder with ptb/ (default: $COLLAPSE_BENCH_DATA)")
    parser.add_argument("--quick", action="store_true", help="less work per measurement")
    parser.add_argument("--only", action="append", choices=[*MEASUREMENTS, DEMO, CELL, SLICE],
                        help="run just these")
    parser.add_argument("--with-demo", action="store_true", help="also time the demo suite (~7 min)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also measure git revision REV, alternating with this checkout (same sitting)")
    parser.add_argument("--pairs", type=int, default=3, help="before/after pairs per measurement (default 3)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--csv", type=Path, default=None,
                        help="also write each measurement's value and FLOP bounds here, as a CSV that a "
                             "docs page can draw its table from (docs/benchmarks.md)")
    # child process mode: one measurement in this process
    parser.add_argument("--one", choices=[*MEASUREMENTS, DEMO, CELL, SLICE], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_one(args.one, args.data_dir, args.quick, args.threads)))
        return
    names = args.only or [*MEASUREMENTS, *([DEMO] if args.with_demo else [])]
    rows = []
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(worktree(args.before)) if args.before else None
        for name in names:
            try:
                row = before_and_after(name, args, source) if source else measure_in_child(name, args)
            except MeasurementFailed as failure:
                rows.append({"name": name, "error": str(failure).splitlines()[-1:]})
                print(f"{name}: failed: {failure}", file=sys.stderr)
                continue
            row["speedup"] = speedup(row)
            rows.append(row)
            print(f"{name}: done", file=sys.stderr)
    import torch

    from bench import hardware

    results = {
        "machine": {**hardware.cpu_description(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "quick": args.quick,
        "threads": args.threads,
        "before": args.before,
        "measurements": [row for row in rows if "error" not in row],
        "failed": [row for row in rows if "error" in row],
    }
    print(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(results))
    if args.csv:  # not echoed: stdout stays the one JSON object
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        bounds_table(results, time.strftime("%Y-%m-%d")).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
