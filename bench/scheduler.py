"""Run a suite's cells through joblib: `loky` (default), `sequential` or `dask`.

A cell travels to its worker as plain data (its config dict and a few
paths) and builds its corpus, remedy and model there. Nothing unpicklable
crosses and nothing is shared but the results folder, which is why one cell
function serves this process, local loky processes and dask workers on
other machines. The store makes the suite restartable: finished cells are
skipped, interrupted ones continue from their last epoch, failed ones are
recorded and, with `retry_failed`, run again.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from joblib import Parallel, cpu_count, delayed, parallel_config
from tqdm.auto import tqdm

from bench import store
from bench.config import RunConfig
from bench.diagnostics import GRID
from bench.errors import ConfigError
from bench.run import execute, plan_run
from bench.suite import Cell, Suite

CONNECT_TIMEOUT = "10s"  # to reach an existing dask scheduler


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back about one cell; the full record is its metrics.json."""

    run_id: str
    status: str  # "finished", "failed", or "busy" (another live process is writing it)
    reason: str = ""
    seconds: float = 0.0  # the cell's own wall time in its worker


@dataclass
class Summary:
    """How a suite run ended, cell by cell."""

    suite: str
    folder: Path
    cells: dict[str, Cell]  # by run id
    skipped: list[str] = field(default_factory=list)  # finished before this run
    outcomes: list[Outcome] = field(default_factory=list)  # of this run's cells, and of old failures
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every cell is finished, 1 otherwise (the CLI's contract)."""
        return 0 if len(self.skipped) + self.count("finished") == len(self.cells) else 1

    def line(self) -> str:
        finished = len(self.skipped) + self.count("finished")
        parts = [f"{finished} finished ({self.count('finished')} now, {len(self.skipped)} already done)"]
        parts += [f"{self.count(status)} {status}" for status in ("failed", "busy") if self.count(status)]
        minutes, seconds = divmod(round(self.seconds), 60)
        cell_seconds = sum(outcome.seconds for outcome in self.outcomes)
        if cell_seconds:  # how well the workers overlapped: the sum of cell times over the makespan
            parts.append(f"cells {cell_seconds:.0f}s over a {self.seconds:.0f}s makespan "
                         f"(x{cell_seconds / max(self.seconds, 1e-9):.2f})")
        return (f"{self.suite}: {len(self.cells)} cells, {', '.join(parts)} in {minutes}m{seconds:02d}s "
                f"-> {self.folder}")

    def problems(self) -> list[str]:
        """One line per cell that did not finish, and what to do about it."""
        lines = [f"  {o.status} {o.run_id} ({self.cells[o.run_id].label}): {o.reason}"
                 for o in self.outcomes if o.status != "finished"]
        if self.count("failed"):
            lines.append("  rerun with --retry-failed to run the failed cells again")
        return lines


def run_cell(
    config: dict[str, Any], out: str, suite: str, data_dir: str | None, threads: int | None, progress: bool
) -> Outcome:
    """Worker entry: rebuild the cell from plain data, train and store it. Never raises.

    An exception escaping a joblib worker would cancel the whole suite, so a
    failure becomes an Outcome; `execute` has already recorded it in the
    store. `threads` None (a remote dask worker) means: this machine's cores
    shared among the cells its dask worker runs at once.
    """
    torch.set_num_threads(threads or _threads_on_dask_worker())
    cfg = RunConfig.from_dict(config)
    try:
        plan = plan_run(cfg, data_dir)
    except Exception as exc:  # e.g. no data folder on a remote worker: nothing was stored, so no retry flag
        return Outcome(cfg.run_id(), "failed", f"on this worker: {type(exc).__name__}: {exc}")
    metrics = execute(plan, Path(out), suite, progress=progress)
    seconds = metrics.get("timings", {}).get("total_s", 0.0)
    return Outcome(cfg.run_id(), metrics["status"], metrics.get("reason", ""), seconds)


def _threads_on_dask_worker() -> int:
    from distributed import get_worker

    return max(1, cpu_count() // get_worker().state.nthreads)


def estimated_cost(cell: Cell) -> float:
    """Relative work of a cell: sentence passes through the model, times LSTM multiply-adds per token.

    Training counts three passes (forward and backward), the IW NLL k
    forward passes per evaluation sentence, a posterior-mean snapshot one
    pass per grid point per diagnostic sentence. Only the order matters: the
    longest cells start first, so that no long cell starts last and runs
    alone while the other workers idle.
    """
    cfg, model, sentences = cell.config, cell.config.model, cell.sentences
    per_token = model.enc_hidden * (model.emb + model.enc_hidden) + model.dec_hidden * (
        model.emb + model.nz + model.dec_hidden
    )
    scored = min(cfg.eval.max_sentences or math.inf, sentences[cfg.eval.split])
    passes = 3 * sentences["train"] * cfg.train.epochs + scored * cfg.eval.iw_samples
    if cfg.train.snapshot_every:
        steps = math.ceil(sentences["train"] / cfg.train.batch_size)
        snapshots = steps // cfg.train.snapshot_every + cfg.train.epochs
        passes += snapshots * min(cfg.train.diag_batch, sentences["valid"]) * len(GRID)
    return per_token * passes


def run_suite(
    suite: Suite,
    out: Path,
    *,
    backend: str = "loky",
    jobs: int | None = None,
    scheduler_address: str | None = None,
    data_dir: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> Summary:
    """Run every cell of `suite` that is not finished yet into `out/<suite>/runs/`.

    Finished cells are skipped and never redone; cells recorded as failed are
    skipped too unless `retry_failed`. `jobs`: cells at once (default: one
    per core). A backend that cannot start (dask not installed, scheduler
    unreachable) raises ConfigError before anything is written.
    """
    started = time.perf_counter()
    out = out.resolve()  # workers may run elsewhere than this folder
    cells = {cell.run_id: cell for cell in suite.cells}
    summary = Summary(suite.name, store.suite_dir(out, suite.name), cells)
    pending = []
    for cell in suite.cells:
        folder = store.run_dir(out, suite.name, cell.run_id)
        status = store.run_status(folder)
        if status == "finished":
            summary.skipped.append(cell.run_id)
        elif status == "failed" and not retry_failed:
            reason = store.read_json(folder / store.METRICS).get("reason", "")
            summary.outcomes.append(Outcome(cell.run_id, "failed", f"{reason} (earlier run)"))
        else:
            pending.append(cell)
    pending.sort(key=estimated_cost, reverse=True)
    if not pending:
        _write_record(suite, out)  # a relabelled suite needs no rerun: the report reads labels from here
    else:
        with _backend(backend, jobs, scheduler_address, len(pending)) as (parallel, threads), tqdm(
            total=len(suite.cells), initial=len(suite.cells) - len(pending), unit="cell", desc=suite.name,
            disable=not progress, dynamic_ncols=True,
        ) as bar:
            _show_counts(bar, summary)
            _write_record(suite, out)
            calls = (
                delayed(run_cell)(cell.config.to_dict(), str(out), suite.name, data_dir, threads,
                                  progress and backend == "sequential")
                for cell in pending
            )
            for outcome in parallel(calls):
                summary.outcomes.append(outcome)
                _show_counts(bar, summary)
                bar.update(1)
    summary.seconds = time.perf_counter() - started
    return summary


def _show_counts(bar: tqdm, summary: Summary) -> None:
    bar.set_postfix_str(f"done {summary.count('finished')}, skipped {len(summary.skipped)}, "
                        f"failed {summary.count('failed')}", refresh=False)


def _write_record(suite: Suite, out: Path) -> None:
    """suite.json beside runs/: where the suite came from, which run ids are its cells, and the
    row group (`label`) of each, which the report titles them by."""
    store.write_json(store.suite_dir(out, suite.name) / store.SUITE, {
        "name": suite.name, "description": suite.description, "source": suite.source,
        "cells": [{"run_id": cell.run_id, "dataset": cell.config.dataset, "remedy": cell.config.remedy,
                   "seed": cell.config.seed, "label": cell.row_group} for cell in suite.cells],
    })


@contextlib.contextmanager
def _backend(
    name: str, jobs: int | None, address: str | None, pending: int
) -> Iterator[tuple[Parallel, int | None]]:
    """A joblib.Parallel for the backend, and torch threads per cell (cores / workers)."""
    options: dict[str, Any] = {"return_as": "generator_unordered", "batch_size": 1}
    cores = cpu_count()
    workers = max(1, min(jobs or cores, pending))
    if name == "sequential":
        yield Parallel(n_jobs=1, backend="sequential", **options), cores
    elif name == "loky":
        yield Parallel(n_jobs=workers, backend="loky", **options), max(1, cores // workers)
    elif name == "dask":
        # parallel_config, not Parallel(backend=...): it registers joblib's dask backend.
        with _dask_client(address, workers), parallel_config(backend="dask"):
            # On a cluster of unknown machines each worker sizes its own threads.
            threads = None if address else max(1, cores // workers)
            yield Parallel(n_jobs=jobs or -1, **options), threads
    else:
        raise ValueError(f"unknown backend {name!r}")


@contextlib.contextmanager
def _dask_client(address: str | None, workers: int) -> Iterator[Any]:
    """A client of the scheduler at `address`, or of a local cluster of `workers` processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "--backend dask needs dask.distributed: pip install 'collapse-bench[dask]'"
        ) from None
    if address is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    with client:
        yield client
