"""Which code made a run: in a git checkout, the commit and whether the tree had changes.

Recorded in metrics.json beside the package version, never in config.json:
the run id names what was computed, not which commit computed it, so a
finished run stays finished across commits. Only a source checkout or an
editable install (`pip install -e .`) has a commit to record; a package
installed from a wheel has none, and a checkout that merely contains the
install (a virtual environment inside some other repository) is not taken
for one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import bench

_GIT_TIMEOUT_S = 10
PACKAGE_ROOT = Path(bench.__file__).resolve().parent.parent  # a checkout's top folder, or site-packages


def git_state(root: Path = PACKAGE_ROOT) -> dict[str, Any] | None:
    """`{"commit": sha, "dirty": bool}` when `root` is the top of a git checkout; None otherwise.

    `dirty` counts uncommitted changes and untracked files git does not ignore:
    either can change what a run computes.
    """
    root = root.resolve()
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return None
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "--no-optional-locks", "status", "--porcelain")  # no index refresh, no lock
    if commit is None:
        return None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _git(root: Path, *args: str) -> str | None:
    """git's stripped output, or None where git is missing, fails or hangs."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
