"""What a results store holds, read without writing: each run's state, its identity and headline metrics.

A run's state says what `collapse-bench run` would do with it:

| state | meaning | next `run` |
|---|---|---|
| new | no folder yet | trains it |
| running | another process holds the run's lock | waits for it |
| resumable | an epoch-end checkpoint is there | continues from it |
| unfinished | started, stopped before its first checkpoint | starts it over |
| finished | metrics.json says so and every file reads whole | skips it |
| failed | metrics.json records why | skips it; `--retry-failed` runs it |
| damaged | a file does not read whole | runs it again |
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import store
from bench.errors import ConfigError
from bench.store import CHECKPOINT

NEW, RUNNING, RESUMABLE, UNFINISHED = "new", "running", "resumable", "unfinished"
FINISHED, FAILED = "finished", "failed"
HEADLINE = ("nll", "kl", "mi", "au")  # metrics.json "test" keys that `list runs` shows


def run_state(folder: Path) -> str:
    """The state of the run stored in `folder` (module docstring)."""
    if not folder.is_dir():
        return NEW
    if _locked(folder):
        return RUNNING
    status = store.run_status(folder)
    if status is not None:
        return status
    return RESUMABLE if (folder / CHECKPOINT).exists() else UNFINISHED


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
    state: str
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
        state = store.DAMAGED
    named = records[0] if records else {}
    if state == store.DAMAGED:
        note = store.damage(folder) or problems[0]
    else:
        note = named.get("reason", "") if state == FAILED else ""
    test = {key: named.get("test", {}).get(key) for key in HEADLINE} if state == FINISHED else {}
    return StoredRun(suite, folder.name, state, named.get("dataset"), named.get("remedy"), named.get("seed"),
                     test, note)
