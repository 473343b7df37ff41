"""One command for a machine with a GPU: what runs there, how fast, and how many cells share it.

    python benchmarks/gpu_check.py --data-dir ../shared/data
    python benchmarks/gpu_check.py --data-dir ../shared/data --authors-repo ~/src/vae-lagging-encoder --jobs 4
    python benchmarks/gpu_check.py --device cpu --dataset synthetic --size small --skip suite   # a dry run

Parts, in order (each can be left out with --skip PART), at He et al.'s
Yahoo/Yelp size (`--size large`: nz 32, emb 512, hidden 1024, batch 32) on
ptb-small by default:

- `tests`: the test suite's CUDA tests (`pytest -k cuda`), passed/skipped counts;
- `train`: training steps of `none`, target tokens per second;
- `iw`: the IW NLL at k = 500 on the first test sentences, sentences per second;
- `authors`: with --authors-repo (a checkout of jxhe/vae-lagging-encoder), the
  same training steps through their VAE on the same device, tokens per second
  and the ratio (the harness's over theirs);
- `suite`: `collapse-bench run SUITE --jobs N --set train.device=DEVICE` into a
  temporary folder: wall time and cells per minute with N cells sharing the device.

Sized to finish in under 8 minutes on one GPU with the defaults (the suite
part dominates: the demo suite, 4 cells at a time). Prints one JSON object;
--markdown also writes a table for docs/benchmarks.md. A device that is not
there, a missing data folder or checkout: one line and exit code 2, before
any work.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import perf

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("tests", "train", "iw", "authors", "suite")


class Refused(Exception):
    """Input the check cannot use: reported as one line, exit code 2."""


def pytest_counts(output: str) -> dict[str, int]:
    """pytest's closing line ("3 passed, 1 skipped, 170 deselected in 2.1s") as counts."""
    return {word: int(count) for count, word in re.findall(r"(\d+) (passed|failed|skipped|deselected|error)",
                                                           output)}


def cuda_tests(args: argparse.Namespace) -> dict[str, Any]:
    """The tests that take a CUDA device where there is one (and skip where not)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider",
                           str(ROOT / "tests")], capture_output=True, text=True, check=False, cwd=ROOT)
    return {"returncode": done.returncode, **pytest_counts(done.stdout.strip().splitlines()[-1:][0]
                                                           if done.stdout.strip() else "")}


def training(args: argparse.Namespace) -> dict[str, Any]:
    trainer = perf._setup(args.size, "fp32", args.data_dir, dataset=args.dataset, device=args.device)
    tokens, seconds = perf.timed_steps(trainer, args.steps)
    return {"steps": args.steps, "tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds}


def importance_weighted_nll(args: argparse.Namespace) -> dict[str, Any]:
    from bench.evaluate import score
    from bench.train import autocast

    trainer = perf._setup(args.size, "fp32", args.data_dir, dataset=args.dataset, device=args.device)
    sentences = trainer.corpus.splits["test"][: args.sentences]
    cfg = trainer.cfg
    result = score(trainer.model, sentences, cfg.eval, seed=0, device=trainer.device,
                      autocast=autocast(cfg.eval.precision, cfg.train.device)).metrics
    seconds = result["timings"]["iw_nll_s"]
    return {"sentences": len(sentences), "k": cfg.eval.iw_samples, "seconds": seconds,
            "sent_s": len(sentences) / seconds}


def authors_training(args: argparse.Namespace) -> dict[str, Any]:
    """Their VAE and step rule (text.py) through the same batches on the same device."""
    from authors_code import imported_from
    from step_check import authors_step, authors_vae

    trainer = perf._setup(args.size, "fp32", args.data_dir, dataset=args.dataset, device=args.device)
    model = trainer.cfg.model
    sizes = {"ni": model.emb, "enc_nh": model.enc_hidden, "dec_nh": model.dec_hidden, "nz": model.nz}
    with imported_from(args.authors_repo), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # their PyTorch 0.3-era loss arguments
        authors = authors_vae("modules.encoders.enc_lstm:LSTMEncoder", len(trainer.corpus.vocab),
                              device=args.device, **sizes).to(args.device)
        batches = [batch.to(trainer.device) for batch in trainer.train_batches[: args.steps + 3]]
        clip = trainer.cfg.train.clip
        tokens, seconds = perf.timed(lambda batch: authors_step(authors, batch.tokens, clip), batches,
                                     trainer.device)
    return {"steps": len(batches) - 3, "tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds}


def shared_device_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Wall time of a whole suite with `jobs` cells at once on the one device."""
    from bench.suite import load_suite

    cells = len(load_suite(args.suite, {"train.device": args.device}, args.data_dir).cells)
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "bench.cli", "run", args.suite, "--jobs", str(args.jobs),
                   "--set", f"train.device={args.device}", "--out", out, "--quiet"]
        command += ["--data-dir", args.data_dir] if args.data_dir else []
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        seconds = time.perf_counter() - started
    return {"suite": args.suite, "jobs": args.jobs, "cells": cells, "returncode": done.returncode,
            "seconds": seconds, "cells_per_min": 60 * cells / seconds}


RUNNERS = {"tests": cuda_tests, "train": training, "iw": importance_weighted_nll,
           "authors": authors_training, "suite": shared_device_suite}


def refuse_unusable(args: argparse.Namespace) -> None:
    """Every check that can fail on input, before any work."""
    import torch

    from bench.data.datasets import cached_corpus
    from bench.errors import ConfigError
    from bench.single_run import resolve

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise Refused(f"--device {args.device}, but no CUDA device is visible; on a machine without one, "
                      "try --device cpu")
    if "authors" in args.parts and args.authors_repo is None:
        args.parts.remove("authors")
    if "authors" in args.parts and not (args.authors_repo / "modules" / "vae.py").is_file():
        raise Refused(f"--authors-repo {args.authors_repo} is not a checkout of jxhe/vae-lagging-encoder "
                      "(no modules/vae.py)")
    try:
        cached_corpus(resolve(args.dataset, "none", 0, perf.SIZES[args.size]).config.data, args.data_dir)
    except ConfigError as exc:
        raise Refused(str(exc)) from exc


def markdown(results: dict[str, Any]) -> str:
    rows = [f"GPU check on {results['device_name']} (`--device {results['device']}`), {results['dataset']} "
            f"at size {results['size']}, torch {results['torch']}.", "",
            "| part | result |", "|---|---|"]
    described = {
        "tests": lambda r: f"CUDA tests: {r.get('passed', 0)} passed, {r.get('skipped', 0)} skipped, "
                           f"{r.get('failed', 0)} failed",
        "train": lambda r: f"{r['tok_s']:,.0f} target tok/s over {r['steps']} steps",
        "iw": lambda r: f"{r['sent_s']:,.2f} sent/s at k = {r['k']} over {r['sentences']} sentences",
        "authors": lambda r: f"{r['tok_s']:,.0f} target tok/s (harness / theirs: {r['ratio']:.2f}x)",
        "suite": lambda r: f"{r['cells']} cells of {r['suite']}, {r['jobs']} at once: {r['seconds']:,.0f} s, "
                           f"{r['cells_per_min']:.1f} cells/min (exit code {r['returncode']})",
    }
    rows += [f"| {part} | {described[part](results[part])} |" for part in PARTS if part in results]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--data-dir", default=None, help="folder with ptb/ (default: $COLLAPSE_BENCH_DATA)")
    parser.add_argument("--dataset", default="ptb-small", help="corpus of the slices (default ptb-small)")
    parser.add_argument("--size", choices=sorted(perf.SIZES), default="large",
                        help="model size (default large: He et al.'s Yahoo/Yelp size)")
    parser.add_argument("--steps", type=int, default=50, help="timed training steps (default 50)")
    parser.add_argument("--sentences", type=int, default=200, help="test sentences scored (default 200)")
    parser.add_argument("--authors-repo", type=Path, default=None,
                        help="checkout of jxhe/vae-lagging-encoder: time their code too")
    parser.add_argument("--suite", default="demo", help="suite run with --jobs cells at once (default demo)")
    parser.add_argument("--jobs", type=int, default=4, help="cells sharing the device (default 4)")
    parser.add_argument("--skip", action="append", choices=PARTS, default=[], help="leave a part out")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    args.parts = [part for part in PARTS if part not in args.skip]
    try:
        refuse_unusable(args)
    except Refused as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    import torch

    results: dict[str, Any] = {
        "device": args.device, "dataset": args.dataset, "size": args.size, "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU",
    }
    for part in args.parts:
        print(f"gpu_check: {part} ...", file=sys.stderr)
        results[part] = RUNNERS[part](args)
    if "authors" in results and "train" in results:
        results["authors"]["ratio"] = results["train"]["tok_s"] / results["authors"]["tok_s"]
    print(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
