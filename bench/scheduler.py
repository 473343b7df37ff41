"""Run a suite's cells on a backend: `loky` (default, joblib's local processes), `sequential` or `dask`.

A cell travels to its worker as plain data and runs there (`bench.cells`).
Nothing unpicklable crosses and nothing is shared but the results folder,
which is why one cell function serves this process, local loky processes and
dask workers on other machines. The store makes the suite restartable:
finished cells are skipped, interrupted ones continue from their last epoch,
failed ones are recorded and, with `retry_failed`, run again.

Faults the suite survives: a run whose files do not read whole is run again;
a cell another process is running (a second `run` on the same store) is
waited for and taken as it ended there, never run twice; a cell whose
process is killed from outside (the OOM killer's SIGKILL) is named and
recorded as failed while the other cells run on. A worker process that dies
itself costs the cells it and its executor had in flight: they run again
one at a time, so that a worker that dies again names its cell.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from joblib import Parallel, cpu_count, delayed
from joblib.externals.loky.process_executor import TerminatedWorkerError
from tqdm.auto import tqdm

from bench import store
from bench.cells import Outcome, killed, run_cell, run_cell_in_own_process
from bench.diagnostics import GRID
from bench.errors import ConfigError
from bench.inventory import run_state
from bench.run_states import Action, RunState, next_action
from bench.single_run import record_failure
from bench.suite import Cell, Suite

CONNECT_TIMEOUT = "10s"  # to reach an existing dask scheduler
Call = tuple[Callable[..., Outcome], tuple[Any, ...], dict[str, Any]]  # what joblib.delayed makes
Runner = Callable[[list[tuple[Cell, Call]]], Iterator[Outcome]]  # runs (cell, call)s, outcomes as they come


@dataclass
class Summary:
    """How a suite run ended, cell by cell."""

    suite: str
    folder: Path
    cells: dict[str, Cell]  # by run id
    skipped: list[str] = field(default_factory=list)  # finished before this run
    outcomes: list[Outcome] = field(default_factory=list)  # of this run's cells, and of old failures
    notes: list[str] = field(default_factory=list)  # faults met on the way: damaged runs, dead workers
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
        if self.count("failed"):
            parts.append(f"{self.count('failed')} failed")
        minutes, seconds = divmod(round(self.seconds), 60)
        cell_seconds = sum(outcome.seconds for outcome in self.outcomes)
        if cell_seconds:  # how well the workers overlapped: the sum of cell times over the makespan
            parts.append(f"cells {cell_seconds:.0f}s over a {self.seconds:.0f}s makespan "
                         f"(x{cell_seconds / max(self.seconds, 1e-9):.2f})")
        return (f"{self.suite}: {len(self.cells)} cells, {', '.join(parts)} in {minutes}m{seconds:02d}s "
                f"-> {self.folder}")

    def problems(self) -> list[str]:
        """One line per cell that did not finish, and what to do about it."""
        lines = [f"  {note}" for note in self.notes]
        lines += [f"  {o.status} {o.run_id} ({self.cells[o.run_id].label}): {o.reason}"
                  for o in self.outcomes if o.status != "finished"]
        if self.count("failed"):
            lines.append("  rerun with --retry-failed to run the failed cells again")
        return lines


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
    log_to: tuple[str, ...] = (),
    only: tuple[Cell, ...] | None = None,
) -> Summary:
    """Run every cell of `suite` that is not finished yet into `out/<suite>/runs/`.

    Finished cells are skipped and never redone; cells recorded as failed are
    skipped too unless `retry_failed`. `jobs`: cells at once (default: one
    per core). A backend that cannot start (dask not installed, scheduler
    unreachable) raises ConfigError before anything is written. `log_to`:
    trackers every cell sends its training curves to (bench.trackers).
    `only`: run these of the suite's cells, not all (`run --only`); the
    record of the suite (suite.json) still lists every cell.
    """
    started = time.perf_counter()
    out = out.resolve()  # workers may run elsewhere than this folder
    chosen = suite.cells if only is None else only
    cells = {cell.run_id: cell for cell in chosen}
    summary = Summary(suite.name, store.suite_dir(out, suite.name), cells)
    pending = sorted(_triage(list(chosen), out, summary, retry_failed), key=estimated_cost, reverse=True)
    if not pending:
        _write_record(suite, out)  # a relabelled suite needs no rerun: the report reads labels from here
    with tqdm(total=len(summary.cells), unit="cell", desc=suite.name, disable=not progress or not pending,
              dynamic_ncols=True) as bar:
        alone = False  # after a worker died: one cell per round, in a worker of its own
        while pending:
            _show_counts(bar, summary)
            batch, rest = (pending[:1], pending[1:]) if alone else (pending, [])
            with _backend(backend, jobs, scheduler_address, len(batch), own_process=alone) as (
                runner, threads
            ):
                _write_record(suite, out)  # once the backend started: a backend that cannot writes nothing
                calls = [(cell, _call(cell, backend, out, suite.name, data_dir, threads, progress, log_to))
                         for cell in batch]
                busy, unreturned, death = _collect(runner(calls), batch, out, summary, bar)
            if death is not None:
                unreturned = _after_death(death, unreturned, alone, out, summary)
                alone = True
            for cell in busy:  # another process runs it: wait until it ends there, then take its result
                store.wait_unlocked(store.run_dir(out, suite.name, cell.run_id))
            pending = [*_triage([*busy, *unreturned], out, summary, retry_failed=False), *rest]
        _show_counts(bar, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _triage(cells: list[Cell], out: Path, summary: Summary, retry_failed: bool) -> list[Cell]:
    """The cells to hand to workers, as `next_action` decides; the others go into `summary`: finished
    ones as skipped, failed ones with their recorded reason. A damaged run is noted and run again."""
    pending = []
    for cell in cells:
        folder = store.run_dir(out, summary.suite, cell.run_id)
        state = run_state(folder)
        if next_action(state, retry_failed) is not Action.SKIP:
            if state is RunState.DAMAGED:
                summary.notes.append(f"damaged {cell.run_id} ({cell.label}), run again: "
                                     f"{store.damage(folder)}")
            pending.append(cell)
        elif state is RunState.FINISHED:
            summary.skipped.append(cell.run_id)
        else:
            reason = store.read_json(folder / store.METRICS).get("reason", "")
            summary.outcomes.append(Outcome(cell.run_id, "failed", f"{reason} (earlier run)"))
    return pending


def _call(cell: Cell, backend: str, out: Path, suite: str, data_dir: str | None, threads: int | None,
          progress: bool, log_to: tuple[str, ...]) -> Call:
    """The call that runs `cell`: here for `sequential` (with progress), else in a process of its own."""
    args = (cell.run.record(), str(out), suite, data_dir)
    if backend == "sequential":
        return delayed(run_cell)(*args, threads, progress, log_to)
    return delayed(run_cell_in_own_process)(*args, threads, log_to)


def _collect(
    results: Iterator[Outcome], cells: list[Cell], out: Path, summary: Summary, bar: tqdm
) -> tuple[list[Cell], list[Cell], str | None]:
    """Record each outcome as it arrives; a cell whose process died is recorded as failed. Returns, in
    submission order, the cells to look at again once no one holds them (another process runs them),
    those that never came back, and why they did not: a dead worker, or None."""
    waiting = {cell.run_id: cell for cell in cells}
    busy = []
    try:
        for outcome in results:
            cell = waiting.pop(outcome.run_id)
            if outcome.status == "lost":
                outcome = _blame(cell, outcome.reason, out, summary.suite) or replace(outcome, status="busy")
            if outcome.status == "busy":
                busy.append(cell)
            elif outcome.status == "skipped":
                summary.skipped.append(outcome.run_id)
            else:
                summary.outcomes.append(outcome)
            _show_counts(bar, summary)
    except TerminatedWorkerError as exc:  # loky cancels every cell once one worker dies
        return busy, list(waiting.values()), _exit_codes(exc)
    return busy, list(waiting.values()), None


def _after_death(death: str, unreturned: list[Cell], alone: bool, out: Path, summary: Summary) -> list[Cell]:
    """The cells to run again after a worker died. A worker that ran one cell alone lost it: it is
    recorded as failed, since what killed its worker would kill it again. Among several workers the
    dead one's cell is unknown, so nothing is blamed and the caller goes on one cell at a time."""
    if not alone:
        summary.notes.append(f"a worker died ({death}) while {len(unreturned)} cells had not come back; "
                             "they run again one at a time, to tell which cell kills its worker")
        return unreturned
    again = []
    for cell in unreturned:
        outcome = _blame(cell, killed(death), out, summary.suite)
        if outcome is None:
            again.append(cell)
        else:
            summary.outcomes.append(outcome)
    return again


def _blame(cell: Cell, reason: str, out: Path, suite: str) -> Outcome | None:
    """Record `cell`, whose process died, as failed for `reason`; None when it need not be: it finished
    before it died (`_triage` takes it), or another suite on the store took it over (it is waited for).
    A checkpoint it left stays, for --retry-failed to resume from."""
    folder = store.run_dir(out, suite, cell.run_id)
    store.wait_unlocked(folder)  # the cell's process, orphaned when its worker died, may hold it a moment yet
    if store.run_status(folder) is RunState.FINISHED:
        return None
    try:
        record_failure(cell.config, out, suite, reason)
    except store.RunLocked:
        return None
    return Outcome(cell.run_id, "failed", reason)


def _exit_codes(exc: TerminatedWorkerError) -> str:
    """The dead workers' exit codes as loky names them ('exit code SIGKILL(-9)'), else its first line."""
    codes = re.search(r"exit codes of the workers are \{(.*)\}", str(exc))
    if codes is None:
        return str(exc).strip().split("\n")[0] or type(exc).__name__
    return f"exit code{'s' if ',' in codes.group(1) else ''} {codes.group(1)}"


def _show_counts(bar: tqdm, summary: Summary) -> None:
    bar.n = len(summary.skipped) + len(summary.outcomes)
    bar.set_postfix_str(f"done {summary.count('finished')}, skipped {len(summary.skipped)}, "
                        f"failed {summary.count('failed')}")


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
    name: str, jobs: int | None, address: str | None, pending: int, *, own_process: bool = False
) -> Iterator[tuple[Runner, int | None]]:
    """What runs the calls on the backend, and torch threads per cell (cores / workers).

    `own_process`: a single loky cell still runs in a worker, not in this process (joblib runs
    n_jobs=1 here), so that a kill of that worker cannot take the suite down.
    """
    cores = cpu_count()
    workers = max(1, min(jobs or cores, pending))
    if name == "sequential":
        yield _on_joblib(Parallel(n_jobs=1, backend="sequential", **_JOBLIB)), cores
    elif name == "loky":
        n_jobs = max(workers, 2) if own_process else workers
        yield _on_joblib(Parallel(n_jobs=n_jobs, backend="loky", **_JOBLIB)), max(1, cores // workers)
    elif name == "dask":
        with _dask_client(address, workers) as client:
            # On a cluster of unknown machines each worker sizes its own threads.
            yield _on_dask(client, jobs), None if address else max(1, cores // workers)
    else:
        raise ValueError(f"unknown backend {name!r}")


_JOBLIB: dict[str, Any] = {"return_as": "generator_unordered", "batch_size": 1}


def _on_joblib(parallel: Parallel) -> Runner:
    def run(calls: list[tuple[Cell, Call]]) -> Iterator[Outcome]:
        return parallel(call for _, call in calls)

    return run


def _on_dask(client: Any, jobs: int | None) -> Runner:
    """Each call a dask future of its own, at most `jobs` at once (default: as many as the cluster
    runs). Not through joblib: a future that dask gives up on (its workers kept dying) must name its
    cell, and joblib's dask backend would wait for it forever."""
    from distributed import KilledWorker, as_completed

    def run(calls: list[tuple[Cell, Call]]) -> Iterator[Outcome]:
        queue, running, done = list(calls), {}, as_completed()

        def submit() -> None:
            cell, (function, args, kwargs) = queue.pop(0)
            future = client.submit(function, *args, key=f"cell-{cell.run_id}-{uuid.uuid4().hex}", pure=False,
                                   **kwargs)
            running[future] = cell
            done.add(future)

        for _ in range(min(jobs or len(queue), len(queue))):
            submit()
        for future in done:
            cell = running.pop(future)
            if queue:
                submit()
            error = future.exception() if future.status == "error" else None
            if isinstance(error, KilledWorker):
                times = "" if error.allowed_failures == 0 else f" {error.allowed_failures + 1} times"
                yield Outcome(cell.run_id, "lost", killed(f"dask lost the worker running it{times}"))
            else:
                yield future.result()

    return run


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
