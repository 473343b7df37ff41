"""One cell of a suite, run in this process or in a process of its own.

A cell travels as plain data (its config.json record and a few paths) and
builds its corpus, remedy and model where it runs. The `sequential` backend runs it
here, with per-epoch progress. A loky or dask worker starts it in a process
of its own and waits for it. The out-of-memory killer picks the biggest
process, which is the cell's, so a kill costs that cell and nothing else:
the worker lives on and reports it `lost`, naming the signal. Were the cell
run in the worker itself, its death would break loky's whole executor
(loky then kills every other worker, and with them the cells they ran), and
dask would run the cell again on another worker, to be killed again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from joblib import cpu_count

from bench.config import RunConfig
from bench.single_run import Resolved, execute, plan_run

ORPHAN_CHECK_S = 0.5  # how soon a cell whose worker died stops, releasing its run lock
# The cell's process starts from its worker's sys.path, as multiprocessing's spawn does: it imports
# the very `bench` (and remedy plugins) its worker did, wherever they came from.
_BOOTSTRAP = ("import json, sys; request = json.load(sys.stdin); sys.path[:] = request.pop('sys_path'); "
              "from bench.cells import serve; serve(request)")


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back about one cell; the full record is its metrics.json."""

    run_id: str
    # "finished", "failed", "skipped" (found finished), "busy" (another process runs it), or "lost"
    # (its process died without storing it; the suite records it as failed)
    status: str
    reason: str = ""
    seconds: float = 0.0  # the cell's own wall time in its worker


def run_cell(
    record: dict[str, Any], out: str, suite: str, data_dir: str | None, threads: int, progress: bool,
    log_to: tuple[str, ...] = (),
) -> Outcome:
    """Rebuild the cell from its config.json record, train and store it, here. Never raises.

    An exception escaping a joblib worker would cancel the whole suite, so a
    failure becomes an Outcome; `execute` has already recorded it in the store.
    """
    torch.set_num_threads(threads)
    cfg = RunConfig.from_dict(record)
    try:  # a remedy plugin or a data folder missing on a remote worker fails the cell, not the suite
        plan = plan_run(Resolved.from_record(cfg, record), data_dir)
    except Exception as exc:  # e.g. no data folder on a remote worker: nothing was stored, so no retry flag
        return Outcome(cfg.run_id(), "failed", f"on this worker: {type(exc).__name__}: {exc}")
    try:
        metrics = execute(plan, Path(out), suite, progress=progress, log_to=log_to)
    except OSError as exc:  # not even the failure could be recorded: a full disk, a lost mount
        return Outcome(cfg.run_id(), "failed", f"cannot write to the store: {exc}")
    if metrics.get("already_finished"):  # by another suite on the store since this one looked
        return Outcome(cfg.run_id(), "skipped")
    seconds = metrics.get("timings", {}).get("total_s", 0.0)
    return Outcome(cfg.run_id(), metrics["status"], metrics.get("reason", ""), seconds)


def run_cell_in_own_process(
    record: dict[str, Any], out: str, suite: str, data_dir: str | None, threads: int | None,
    log_to: tuple[str, ...] = (),
) -> Outcome:
    """Worker entry: `run_cell` in a child process; `lost` with why when the child dies without an answer.

    `threads` None (a remote dask worker) means: this machine's cores shared
    among the cells its dask worker runs at once.
    """
    request = {"sys_path": sys.path, "record": record, "out": out, "suite": suite, "data_dir": data_dir,
               "threads": threads or _threads_on_dask_worker(), "log_to": list(log_to)}
    child = subprocess.Popen([sys.executable, "-c", _BOOTSTRAP], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        answer, _ = child.communicate(json.dumps(request))
    except BaseException:  # the worker is being stopped (Ctrl-C): its cell stops with it
        child.kill()
        child.wait()
        raise
    if child.returncode == 0:
        return Outcome(**json.loads(answer))
    return Outcome(RunConfig.from_dict(record).run_id(), "lost", death_reason(child.returncode))


def death_reason(returncode: int) -> str:
    """Why a cell's process ended without an answer, from its exit status (negative: the signal)."""
    if returncode > 0:
        return f"worker exited with code {returncode} before it stored the cell; its error is on stderr"
    try:
        name = f", {signal.Signals(-returncode).name}"
    except ValueError:  # a real-time signal has no name
        name = ""
    return killed(f"signal {-returncode}{name}")


def killed(how: str) -> str:
    """The reason recorded for a cell whose process was killed from outside, and what to do about it."""
    return (f"worker killed ({how}), most likely by the out-of-memory killer: try fewer --jobs or a smaller "
            "model; --retry-failed resumes it from its last epoch")


def serve(request: dict[str, Any]) -> None:
    """The cell's process: run the cell of `request` and write its Outcome, as JSON, to stdout."""
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # what the cell prints must not garble the answer
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C stops the suite; the cell stops as at a kill
    _stop_when_orphaned(os.getppid())
    outcome = run_cell(request["record"], request["out"], request["suite"], request["data_dir"],
                       request["threads"], progress=False, log_to=tuple(request["log_to"]))
    with answer:
        json.dump(dataclasses.asdict(outcome), answer)


def _stop_when_orphaned(worker: int) -> None:
    """End this process soon after its worker dies: nobody would read its answer, and it would hold the
    run's lock while the suite runs the cell again. Its files stay whole: every write is atomic."""

    def watch() -> None:
        while os.getppid() == worker:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _threads_on_dask_worker() -> int:
    from distributed import get_worker

    return max(1, cpu_count() // get_worker().state.nthreads)
