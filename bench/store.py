"""The results store: `<out>/<suite>/runs/<run-id>/`, every file written atomically.

A file is written to a temporary name in the same folder and moved into place
with `os.replace`, so a reader (or a resumed suite) never sees half a file.
`metrics.json` is written last: its presence with status "finished" is what
marks a run as done. A file damaged after the fact (a partial copy, a dying
disk) is never half-read either: every reader here checks that the file reads
whole (JSON parses, a .pt file's CRCs, a table's page checksums) and raises
`Damaged` naming it, and a finished run's metrics.json records the sha256 of
its other files, which `damage` compares. A process writing a run holds the run's lock, so two
workers (or two suites sharing a store) never write the same folder. A finished run's files are never
rewritten: a later re-evaluation of its model (`collapse-bench evaluate`, bench/reevaluation.py) goes
to `evaluations/<key>/` beside them, with its own lock, record and digests.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import socket
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench.errors import ConfigError
from bench.run_states import RunState

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"  # the training state after the last epoch end, while a run is unfinished
CURVE = "curve"  # per-step training curve (step, epoch, kl_weight, rec, kl, elbo, mi, au)
SNAPSHOTS = "posterior_mean"  # table of He et al.'s posterior-mean points (nz = 1 runs)
PER_SENTENCE = "per_sentence"  # per scored sentence: sentence, tokens, nll_iw, elbo_rec, kl (bench.evaluate)
TABLES = (CURVE, SNAPSHOTS, PER_SENTENCE)  # a finished run's tables; runs stored before one lack it
EVALUATIONS = "evaluations"  # re-evaluations of the stored model (`collapse-bench evaluate`), one folder each
EVALUATION = "evaluation.json"  # in evaluations/<key>/: the settings, the time and the metrics, written last
PROBE = "probe.json"  # the sentiment probe's result (`collapse-bench probe`), on labelled datasets
LOCK = ".lock"
SUITE = "suite.json"  # what the suite was when last run: its cells and where it came from


DAMAGED = RunState.DAMAGED  # run_status of a run whose files do not read whole


class RunLocked(RuntimeError):
    """Another live process is writing this run."""


class Damaged(ConfigError):
    """A stored file does not read whole: truncated, corrupted, or not what the harness wrote.

    A ConfigError, so a command that needs the file stops with one line naming
    it; commands that read many runs catch it per run and go on.
    """


def _damaged(path: Path, why: object) -> Damaged:
    return Damaged(f"{path} is damaged ({why}); it was cut short or corrupted")


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
    fd = _open_lock(folder)
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


def wait_unlocked(folder: Path) -> None:
    """Block until no process holds the run's lock: a second suite on the same store waits for a cell
    the first is running, then takes it as it ended there instead of running it twice."""
    fd = _open_lock(folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def _open_lock(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    return os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)


def remove_partial_writes(folder: Path) -> None:
    """Delete the temporary files of writes cut off by a kill (SIGKILL leaves no time to remove
    them); call it holding the run's lock, when no one else can be writing."""
    for path in folder.glob(".*.tmp"):
        path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; results are ordinary files.
FILE_MODE = 0o666 & ~_umask()


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


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
    except OSError as exc:  # a failed run's reason names the file and, when it is that, a full disk
        Path(tmp).unlink(missing_ok=True)
        full = " (the disk is full or over a quota or size limit)" if exc.errno in _FULL else ""
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}{full}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def digests(folder: Path, names: list[str]) -> dict[str, str]:
    """sha256 of each of `names` present in `folder`: recorded in metrics.json when a run finishes,
    so that `damage` later catches a changed byte no format check sees (a parquet footer)."""
    return {name: file_sha256(folder / name) for name in names if (folder / name).exists()}


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; Damaged when it is missing or does not parse whole."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _damaged(path, exc) from None
    if not isinstance(data, dict):
        raise _damaged(path, f"a JSON {type(data).__name__}, not an object")
    return data


def save_torch(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_torch(path: Path) -> Any:
    """Load tensors and plain containers only (`weights_only=True`: no code runs), from a file whose
    every member passes its CRC check; Damaged otherwise."""
    check_torch_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors of every kind: the file is not what save_torch wrote
        raise _damaged(path, exc) from None


def check_torch_file(path: Path) -> None:
    """Raise Damaged unless `path` is a whole torch zip archive: torch.load reads the central
    directory only, so a flipped byte in a tensor would load as a different weight."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from None
    if bad is not None:
        raise _damaged(path, f"member {bad} fails its CRC check")


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_table(folder: Path, stem: str, rows: list[dict[str, Any]] | pd.DataFrame) -> Path:
    """A table as `<stem>.parquet` when pyarrow is there, `<stem>.csv` otherwise."""
    frame = pd.DataFrame(rows)
    if parquet_available():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, write_page_checksum=True)
        path = folder / f"{stem}.parquet"
        atomic_write_bytes(path, buffer.getvalue())
    else:
        path = folder / f"{stem}.csv"
        atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return path


def read_table(folder: Path, stem: str) -> pd.DataFrame | None:
    """The table written by `write_table`, None when the run has none; Damaged when it does not read
    whole (parquet pages carry checksums, so a flipped byte is caught, not read as a number)."""
    parquet, csv = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    path = parquet if parquet.exists() else csv if csv.exists() else None
    if path is None:
        return None
    try:
        if path is parquet:
            return pd.read_parquet(path, page_checksum_verification=True)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors are OSErrors or ValueErrors
        raise _damaged(path, exc) from None


def evaluation_dir(run: Path, key: str) -> Path:
    """Where the re-evaluation of `run`'s model with the eval settings hashed to `key` is stored."""
    return run / EVALUATIONS / key


def read_evaluation(folder: Path) -> dict[str, Any] | None:
    """The record of the re-evaluation in `folder`, None when there is none (or it did not finish);
    Damaged when the record or its table does not read whole or differs from the digest it recorded."""
    if not (folder / EVALUATION).exists():
        return None
    record = read_json(folder / EVALUATION)
    read_table(folder, PER_SENTENCE)
    _check_digests(folder, record.get("files", {}))
    return record


def run_status(folder: Path) -> RunState | None:
    """FINISHED, FAILED, DAMAGED (a file of it does not read whole: run it again), or None when the
    run has not ended."""
    if damage(folder):
        return DAMAGED
    path = folder / METRICS
    return RunState(read_json(path)["status"]) if path.exists() else None


def require_run_folder(folder: Path) -> None:
    """ConfigError (one line) unless `folder` holds a run's config.json."""
    if not (folder / CONFIG).is_file():
        raise ConfigError(f"{folder} is not a run folder (no {CONFIG}); give results/<suite>/runs/<run-id>")


def require_finished(folder: Path, action: str) -> None:
    """Nothing if `folder` is a finished run whose files read whole, else ConfigError (one line) saying
    why; `action` is what the command would do to it ("diagnosed", "evaluated")."""
    require_run_folder(folder)
    status = run_status(folder)
    if status is RunState.FINISHED:
        return
    if status is None:
        why = "it has not finished (no metrics.json yet)"
    elif status is RunState.DAMAGED:
        why = str(damage(folder))
    else:
        reason = read_json(folder / METRICS).get("reason", "")
        why = f"it {status.value}{': ' + reason if reason else ''}"
    raise ConfigError(f"run {folder.name} cannot be {action}: {why}; only a finished run can be")


_ENDED = (RunState.FINISHED, RunState.FAILED)  # the statuses a run's metrics.json is written with


def damage(folder: Path) -> str | None:
    """Why a run that ended cannot be trusted, naming its first file that does not read whole; None
    when it can. A finished run needs its config, model and tables; a failed one only its record; a
    record with any other status is not one the harness wrote."""
    if not (folder / METRICS).exists():
        return None
    try:
        metrics = read_json(folder / METRICS)
        if metrics.get("status") not in _ENDED:
            raise _damaged(folder / METRICS, f"status {metrics.get('status')!r}, which no run ends with")
        if metrics["status"] == RunState.FINISHED:
            read_json(folder / CONFIG)
            check_torch_file(folder / MODEL)
            for stem in TABLES:
                read_table(folder, stem)
            _check_digests(folder, metrics.get("files", {}))  # runs stored before digests have none
    except Damaged as exc:
        return str(exc)
    return None


def _check_digests(folder: Path, recorded: dict[str, str]) -> None:
    for name, digest in recorded.items():
        path = folder / name
        if not path.exists() or file_sha256(path) != digest:
            raise _damaged(path, "missing, or its sha256 is not the one recorded when the run finished")
