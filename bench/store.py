"""The results store: `<out>/<suite>/runs/<run-id>/`, every file written atomically.

A file is written to a temporary name in the same folder and moved into place
with `os.replace`, so a reader (or a resumed suite) never sees half a file.
`metrics.json` is written last: its presence with status "finished" is what
marks a run as done. A process writing a run holds the run's lock, so two
workers (or two suites sharing a store) never write the same folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench.errors import ConfigError

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.pt"
CURVE = "curve"
SNAPSHOTS = "posterior_mean"  # table of He et al.'s posterior-mean points (nz = 1 runs)
LOCK = ".lock"
SUITE = "suite.json"  # what the suite was when last run: its cells and where it came from


class RunLocked(RuntimeError):
    """Another live process is writing this run."""


_SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_suite_name(name: object) -> None:
    """A suite's name becomes a folder under the store: '../x' or '/x' would write outside it."""
    if not isinstance(name, str) or not _SUITE_NAME.match(name):
        raise ConfigError(
            f"a suite name must be letters, digits, '.', '_' or '-', starting with a letter or digit "
            f"(it names the results folder), got {name!r}"
        )


def suite_dir(out: Path | str, suite: str) -> Path:
    check_suite_name(suite)
    return Path(out) / suite


def run_dir(out: Path | str, suite: str, run_id: str) -> Path:
    return suite_dir(out, suite) / "runs" / run_id


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the run folder exclusively while writing it; raise RunLocked if another process does.

    An advisory `flock` on `folder/.lock`: the kernel drops it when its holder
    exits, so a lock left by a killed process never blocks a resumed suite,
    and no pid needs to be checked. The file stays (unlinking it would let a
    third process lock a fresh file while a second still holds the old one);
    it names the last holder, for the error message.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            raise RunLocked(f"run {folder.name} is being written by {holder}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; results are ordinary files.
FILE_MODE = 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def save_torch(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_torch(path: Path) -> Any:
    """Load tensors and plain containers only (`weights_only=True`: no code runs)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_table(folder: Path, stem: str, rows: list[dict[str, Any]]) -> Path:
    """A table as `<stem>.parquet` when pyarrow is there, `<stem>.csv` otherwise."""
    frame = pd.DataFrame(rows)
    if parquet_available():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        path = folder / f"{stem}.parquet"
        atomic_write_bytes(path, buffer.getvalue())
    else:
        path = folder / f"{stem}.csv"
        atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return path


def read_table(folder: Path, stem: str) -> pd.DataFrame | None:
    """The table written by `write_table`, or None when the run has none."""
    if (folder / f"{stem}.parquet").exists():
        return pd.read_parquet(folder / f"{stem}.parquet")
    if (folder / f"{stem}.csv").exists():
        return pd.read_csv(folder / f"{stem}.csv")
    return None


def write_curve(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """The per-step training curve (step, epoch, kl_weight, rec, kl, elbo, mi, au)."""
    return write_table(folder, CURVE, rows)


def read_curve(folder: Path) -> pd.DataFrame | None:
    return read_table(folder, CURVE)


def run_status(folder: Path) -> str | None:
    """'finished', 'failed', or None when the run has not ended."""
    path = folder / METRICS
    if not path.exists():
        return None
    return read_json(path).get("status")
