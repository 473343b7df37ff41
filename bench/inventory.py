"""What a results store holds, read without writing: each run's state, its identity and headline metrics.

The states, and what `collapse-bench run` does with each, are `bench.run_states`'s; here is how a run
folder's state is read.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import store
from bench.errors import ConfigError
from bench.run_states import RunState
from bench.store import CHECKPOINT

HEADLINE = ("nll", "kl", "mi", "au")  # metrics.json "test" keys that `list runs` shows


def run_state(folder: Path) -> RunState:
    """The state of the run stored in `folder`."""
    if not folder.is_dir():
        return RunState.NEW
    if _locked(folder):
        return RunState.RUNNING
    status = store.run_status(folder)
    if status is not None:
        return status
    return RunState.RESUMABLE if (folder / CHECKPOINT).exists() else RunState.UNFINISHED


def _locked(folder: Path) -> bool:
    """Whether a live process holds the run's lock; tested with a shared lock on the existing lock file,
    held for no longer than the test, and never creating one."""
    try:
        fd = os.open(folder / store.LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


@dataclass(frozen=True)
class StoredRun:
    """One run folder as `list runs` shows it; `note` says why it failed or what is damaged."""

    suite: str
    run_id: str
    state: RunState
    dataset: str | None
    remedy: str | None
    seed: int | None
    test: dict[str, Any]
    note: str = ""

    def fields(self) -> tuple[str, str, int]:
        """Dataset, remedy and seed, for `--only` (unknown ones match no pattern but '*')."""
        return self.dataset or "", self.remedy or "", -1 if self.seed is None else self.seed


def stored_runs(root: Path) -> list[StoredRun]:
    """Every run under `root`: a suite folder (holding runs/) or a results folder (holding
    <suite>/runs/); a run whose files do not read whole is listed as damaged, not skipped."""
    if (root / "runs").is_dir():
        suites = [root]
    else:
        suites = sorted(path.parent for path in root.glob("*/runs") if path.is_dir())
    runs = [_stored_run(folder, suite.name) for suite in suites
            for folder in sorted((suite / "runs").iterdir()) if folder.is_dir()]
    if not runs:
        raise ConfigError(f"no runs under {root}: give a results folder (holding <suite>/runs/<run-id>/) "
                          "or a suite folder (holding runs/<run-id>/)")
    return sorted(runs, key=lambda run: (run.suite, run.dataset or "", run.remedy or "", run.seed or 0,
                                         run.run_id))


def _stored_run(folder: Path, suite: str) -> StoredRun:
    """The run in `folder`, named by metrics.json where it reads, else by config.json."""
    state = run_state(folder)
    records, problems = [], []
    for name in (store.METRICS, store.CONFIG):
        if (folder / name).exists():
            try:
                records.append(store.read_json(folder / name))
            except store.Damaged as exc:  # also an unfinished run's config.json, which run_status skips
                problems.append(str(exc))
    if problems:
        state = RunState.DAMAGED
    named = records[0] if records else {}
    if state is RunState.DAMAGED:
        note = store.damage(folder) or problems[0]
    else:
        note = named.get("reason", "") if state is RunState.FAILED else ""
    test = {key: named.get("test", {}).get(key) for key in HEADLINE} if state is RunState.FINISHED else {}
    return StoredRun(suite, folder.name, state, named.get("dataset"), named.get("remedy"), named.get("seed"),
                     test, note)
