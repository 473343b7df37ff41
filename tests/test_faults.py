"""The fault battery: interrupted, corrupted, concurrent and full stores lose nothing and are never
half-read. docs/reliability.md lists which test here proves which promise."""

from __future__ import annotations

import ast
import errno
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY_DATA, TINY_TABLES, ctrl_c, stop_in_epoch
from test_probe import TINY as PROBE_TINY
from test_probe import write_yelp

from bench import scheduler, store
from bench.cells import Outcome, death_reason, run_cell
from bench.cli import cli
from bench.data.readers import MAX_LINE_BYTES
from bench.probe import PROBE
from bench.scheduler import run_suite
from bench.single_run import CHECKPOINT, execute, plan_run, resolve
from bench.suite import Suite, load_suite

ROOT = Path(__file__).resolve().parents[1]


def one_error_line(result) -> str:
    """The CLI's rule for bad input: exit code 2 and one `Error:` line."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:"), result.output
    return lines[0]


# ------------------------------------------------------------------- bad input


class TestBadInput:
    @pytest.mark.parametrize("spec", ["none+none", "kl-annealing+kl-annealing",
                                      "dilated-cnn+beta+dilated-cnn(size=small)"])
    def test_a_remedy_composed_with_itself(self, spec, tmp_path):
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["train", "--remedy", spec, "--out", str(out)])
        assert "is given twice" in one_error_line(result)
        assert not out.exists()

    @pytest.mark.parametrize("name", ["../evil", "/tmp/evil", "a/../../evil", ".hidden"])
    def test_a_suite_file_named_to_write_outside_the_store(self, name, write_suite, tmp_path):
        path = write_suite('remedies = ["none"]')
        path.write_text(path.read_text().replace('name = "tiny"', f'name = "{name}"'))
        result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
        assert "suite name must be" in one_error_line(result)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]

    @pytest.mark.parametrize("name", ["../evil", "/tmp/evil-collapse-bench"])
    def test_train_filed_under_a_suite_outside_the_store(self, name, tmp_path):
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["train", "--suite", name, "--out", str(out)])
        assert "suite name must be" in one_error_line(result)
        assert not out.exists() and not (tmp_path / "evil").exists()
        assert not Path("/tmp/evil-collapse-bench").exists()

    @pytest.mark.parametrize(("content", "message"), [
        (b"a b c\nd \x00 e\n", "line 2 contains a NUL byte at column 3"),
        (b"a b c\n" + b"w " * (MAX_LINE_BYTES // 2 + 1) + b"\n", "line 2 is longer than 1 MiB"),
        (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8, "line 1"),  # a gzip file saved as .txt
        (b"a b\nc \xff d\n", "line 2 is not valid UTF-8"),
    ])
    def test_a_data_file_that_is_not_text(self, content, message, tmp_path):
        (tmp_path / "ptb").mkdir()
        (tmp_path / "ptb" / "ptb.valid.txt").write_bytes(content)
        (tmp_path / "ptb" / "ptb.test.txt").write_bytes(b"a b\n")
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["train", "--dataset", "ptb-small", "--data-dir", str(tmp_path),
                                          "--out", str(out)])
        line = one_error_line(result)
        assert "ptb.valid.txt" in line and message in line
        assert not out.exists()


# ------------------------------------------------------------------- loading


def torch_loads(path: Path) -> dict[int, bool]:
    """Line -> whether it passes `weights_only=True`, for each `torch.load(...)` call in `path`."""
    return {
        node.lineno: any(k.arg == "weights_only" and ast.unparse(k.value) == "True" for k in node.keywords)
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load"
    }


def test_every_torch_load_is_weights_only():
    """A stored .pt file is data from disk: unpickling it must never run code."""
    sources = [p for folder in ("bench", "remedies", "benchmarks", "examples")
               for p in (ROOT / folder).rglob("*.py")]
    calls = {f"{p.relative_to(ROOT)}:{line}": safe for p in sources for line, safe in torch_loads(p).items()}
    assert calls, "the scan found no torch.load at all: it looks in the wrong place"
    assert [where for where, safe in calls.items() if not safe] == []


def test_the_scan_tells_an_unsafe_load(tmp_path):
    source = tmp_path / "unsafe.py"
    source.write_text("import torch\nok = torch.load('a', weights_only=True)\nbad = torch.load('b')\n"
                      "worse = torch.load('c', weights_only=False)\n")
    assert torch_loads(source) == {2: True, 3: False, 4: False}


# ------------------------------------------------------------------- damaged files


def truncate(path: Path) -> None:
    """A partial copy: the first half."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    """A dying disk: one byte in the middle changed."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    """A file created and never filled."""
    path.write_bytes(b"")


DAMAGES = {"truncated": truncate, "flipped": flip, "empty": empty}
RUN_FILES = (store.METRICS, store.CONFIG, store.MODEL, f"{store.CURVE}.parquet")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Suite]:
    """A store holding a finished two-cell suite (seeds 0 and 1), trained once for the module."""
    root = tmp_path_factory.mktemp("finished")
    path = root / "tiny.toml"
    path.write_text(f'name = "tiny"\nremedies = ["none"]\nseeds = [0, 1]\n{TINY_DATA}\n{TINY_TABLES}\n')
    suite = load_suite(path)
    assert run_suite(suite, root / "out", backend="sequential", progress=False).exit_code == 0
    return root / "out", suite


@pytest.fixture
def copied(finished: tuple[Path, Suite], tmp_path: Path) -> tuple[Path, Suite, list[Path]]:
    """A copy of the finished store to damage, and its two run folders (seed 0, seed 1)."""
    out, suite = finished
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "out", suite, [store.run_dir(tmp_path / "out", "tiny", c.run_id) for c in suite.cells]


class TestDamagedFiles:
    @pytest.mark.parametrize("name", RUN_FILES)
    @pytest.mark.parametrize("damage", DAMAGES)
    def test_a_damaged_file_makes_the_run_damaged_and_is_named(self, copied, name, damage):
        _, _, (folder, other) = copied
        DAMAGES[damage](folder / name)
        assert store.run_status(folder) == store.DAMAGED
        assert f"{folder / name} is damaged" in store.damage(folder)
        assert store.run_status(other) == "finished" and store.damage(other) is None

    @pytest.mark.parametrize(("name", "damage"), [
        (store.MODEL, "flipped"),
        pytest.param(store.METRICS, "truncated", marks=pytest.mark.slow),
        pytest.param(store.CONFIG, "empty", marks=pytest.mark.slow),
        pytest.param(f"{store.CURVE}.parquet", "truncated", marks=pytest.mark.slow),
    ])
    def test_run_runs_the_damaged_cell_again_and_no_other(self, copied, finished, name, damage):
        out, suite, (folder, other) = copied
        DAMAGES[damage](folder / name)
        untouched = (other / store.METRICS).stat().st_mtime_ns
        result = CliRunner().invoke(cli, ["run", suite.source, "--out", str(out), "--backend", "sequential",
                                          "--quiet"])
        assert result.exit_code == 0, result.output
        assert "2 finished (1 now, 1 already done)" in result.output
        assert f"damaged {folder.name}" in result.output and name in result.output
        assert store.damage(folder) is None and store.run_status(folder) == "finished"
        assert (other / store.METRICS).stat().st_mtime_ns == untouched
        clean = store.read_json(store.run_dir(finished[0], "tiny", folder.name) / store.METRICS)
        assert store.read_json(folder / store.METRICS)["test"] == clean["test"]  # a whole run again

    def test_a_damaged_checkpoint_is_not_resumed_from(self, copied, monkeypatch):
        out, suite, (folder, _) = copied
        clean = store.read_json(folder / store.METRICS)
        for name in (store.METRICS, store.MODEL):
            (folder / name).unlink()
        resume_training = stop_in_epoch(monkeypatch, 1)
        with pytest.raises(KeyboardInterrupt):
            execute(plan_run(suite.cells[0].run), out, "tiny")
        truncate(folder / CHECKPOINT)
        resume_training()
        metrics = execute(plan_run(suite.cells[0].run), out, "tiny")
        assert metrics["status"] == "finished" and metrics["resumed_from_epoch"] is None
        assert metrics["test"] == clean["test"]
        assert not (folder / CHECKPOINT).exists()

    def test_report_names_the_damaged_run_and_goes_on(self, copied):
        out, _, (folder, other) = copied
        truncate(folder / store.METRICS)
        truncate(other / f"{store.CURVE}.parquet")
        result = CliRunner().invoke(cli, ["report", str(out / "tiny")])
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.stderr.splitlines() if folder.name in line or other.name in line]
        assert len(warnings) == 2, result.stderr
        assert f"run {folder.name} left out of the report" in warnings[0] and store.METRICS in warnings[0]
        assert f"run {other.name}: its curve is left out" in warnings[1]
        assert "report of 1 run with" in result.stdout
        assert folder.name in (out / "tiny" / "report" / "report.md").read_text()

    @pytest.mark.parametrize("name", [store.MODEL, store.CONFIG])
    def test_samples_names_the_damaged_file_in_one_line(self, copied, name):
        _, _, (folder, _) = copied
        truncate(folder / name)
        result = CliRunner().invoke(cli, ["samples", str(folder)])
        line = one_error_line(result)
        assert f"{folder / name} is damaged" in line

    def test_probe_names_the_damaged_run_and_probes_the_rest(self, tmp_path):
        data = write_yelp(tmp_path / "data")
        sets = [arg for key, value in PROBE_TINY.items() for arg in ("--set", f"{key}={value}")]
        for seed in ("0", "1"):
            trained = CliRunner().invoke(cli, [
                "train", "--dataset", "yelp-short", "--data-dir", str(data), "--seed", seed,
                "--out", str(tmp_path / "out"), "--suite", "yelp", *sets, "--quiet",
            ])
            assert trained.exit_code == 0, trained.output
        damaged, intact = sorted((tmp_path / "out" / "yelp" / "runs").iterdir())
        flip(damaged / store.MODEL)
        result = CliRunner().invoke(cli, ["probe", str(tmp_path / "out" / "yelp"), "--data-dir", str(data),
                                          "--quiet"])
        assert result.exit_code == 0, result.output
        (warning,) = result.stderr.splitlines()
        assert warning.startswith(f"warning: run {damaged.name} skipped") and store.MODEL in warning
        assert "probed 1 of 2 labelled runs (0 already probed, 1 damaged)" in result.stdout
        assert (intact / PROBE).exists() and not (damaged / PROBE).exists()

    def test_a_damaged_probe_is_named_by_report_and_probed_again(self, tmp_path):
        data = write_yelp(tmp_path / "data")
        sets = [arg for key, value in PROBE_TINY.items() for arg in ("--set", f"{key}={value}")]
        trained = CliRunner().invoke(cli, ["train", "--dataset", "yelp-short", "--data-dir", str(data), *sets,
                                           "--out", str(tmp_path / "out"), "--suite", "yelp", "--quiet"])
        assert trained.exit_code == 0, trained.output
        suite = tmp_path / "out" / "yelp"
        (folder,) = (suite / "runs").iterdir()
        probe = ["probe", str(suite), "--data-dir", str(data), "--quiet"]
        assert CliRunner().invoke(cli, probe).exit_code == 0
        whole = (folder / PROBE).read_bytes()
        truncate(folder / PROBE)

        report = CliRunner().invoke(cli, ["report", str(suite)])
        assert report.exit_code == 0, report.output
        (warning,) = [line for line in report.stderr.splitlines() if folder.name in line]
        assert f"run {folder.name}: its probe is left out: {folder / PROBE} is damaged" in warning
        assert "report of 1 run with" in report.stdout  # the run itself stays in

        again = CliRunner().invoke(cli, probe)
        assert again.exit_code == 0, again.output
        (warning,) = again.stderr.splitlines()
        assert warning.startswith(f"warning: run {folder.name} probed again: {folder / PROBE} is damaged")
        assert "probed 1 of 1 labelled runs (0 already probed)" in again.stdout
        assert (folder / PROBE).read_bytes() == whole  # the same probe, whole again

    @pytest.mark.parametrize("side", ["A", "B"])
    def test_compare_names_the_damaged_run_and_goes_on(self, copied, finished, side):
        out, _, (folder, _) = copied
        truncate(folder / store.METRICS)
        stores = [finished[0] / "tiny", out / "tiny"]
        result = CliRunner().invoke(cli, ["compare", *map(str, stores if side == "B" else stores[::-1])])
        assert result.exit_code == 0, result.output
        (warning,) = result.stderr.splitlines()
        assert warning.startswith(f"warning: run {folder.name} left out of the comparison (store {side}): "
                                  f"{folder / store.METRICS} is damaged")
        assert "## Damaged runs, left out" in result.stdout
        assert "1 cell(s) in both" in result.stdout and "| none   | nll    | 1 |" in result.stdout


# ------------------------------------------------------------------- lost cells


class TestLostCells:
    @pytest.mark.parametrize(("returncode", "reason"), [
        (-9, "worker killed (signal 9, SIGKILL), most likely by the out-of-memory killer"),
        (-15, "worker killed (signal 15, SIGTERM)"),
        (3, "worker exited with code 3 before it stored the cell; its error is on stderr"),
    ])
    def test_the_reason_names_the_signal_or_the_exit_code(self, returncode, reason):
        assert death_reason(returncode).startswith(reason)

    def test_a_lost_cell_is_recorded_as_failed_and_the_suite_goes_on(self, write_suite, tmp_path,
                                                                        monkeypatch):
        suite = load_suite(write_suite('remedies = ["none"]\nseeds = [0, 1]'))
        lost = suite.cells[1]

        def killed_in_seed_1(config, out, suite_name, data_dir, threads, log_to):  # its process got SIGKILL
            if config["seed"] == 1:
                return Outcome(lost.run_id, "lost", death_reason(-signal.SIGKILL))
            return run_cell(config, out, suite_name, data_dir, 1, progress=False, log_to=log_to)

        monkeypatch.setattr(scheduler, "run_cell_in_own_process", killed_in_seed_1)
        summary = run_suite(suite, tmp_path, backend="loky", jobs=1, progress=False)  # loky: joblib runs here
        assert summary.exit_code == 1 and summary.count("finished") == 1
        (failed,) = [o for o in summary.outcomes if o.status == "failed"]
        assert failed.run_id == lost.run_id and failed.reason.startswith("worker killed (signal 9, SIGKILL)")
        problems = "\n".join(summary.problems())
        assert f"failed {lost.run_id} (synthetic / none / seed 1): worker killed" in problems
        folder = store.run_dir(tmp_path, "tiny", lost.run_id)
        assert store.run_status(folder) == "failed"
        assert store.read_json(folder / store.METRICS)["reason"] == failed.reason

        monkeypatch.undo()
        again = run_suite(suite, tmp_path, backend="sequential", retry_failed=True, progress=False)
        assert again.exit_code == 0 and again.count("finished") == 1 and len(again.skipped) == 1


# ------------------------------------------------------------------- interruptions


def sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


TRAIN = ["train", "--set", "data.synthetic_size=200", "--set", "train.epochs=3", "--set", "train.threads=1",
         "--set", "eval.iw_samples=5", "--set", "train.diag_every=0", "--quiet"]


class TestInterrupted:
    @pytest.mark.parametrize(("stop", "name", "code"), [(ctrl_c, "SIGINT", 130), (sigterm, "SIGTERM", 143)])
    def test_train_stops_with_one_line_and_resumes_from_its_checkpoint(self, stop, name, code, tmp_path,
                                                                        monkeypatch):
        args = [*TRAIN, "--out", str(tmp_path)]
        stop_in_epoch(monkeypatch, 2, stop)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == code
        assert result.stderr.strip().splitlines() == [
            f"Interrupted by {name}: finished runs and each run's last epoch checkpoint are kept; the same "
            "command again resumes from there."]
        (folder,) = (tmp_path / "train" / "runs").iterdir()
        assert store.run_status(folder) is None and store.load_torch(folder / CHECKPOINT)["epoch"] == 2
        assert not list(folder.glob(".*.tmp"))
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the handler is the command's only"

        monkeypatch.undo()
        resumed = CliRunner().invoke(cli, args)
        assert resumed.exit_code == 0, resumed.output
        assert store.read_json(folder / store.METRICS)["resumed_from_epoch"] == 2
        assert not (folder / CHECKPOINT).exists()


# ------------------------------------------------------------------- a full disk


class TestDiskFull:
    def test_a_cell_that_cannot_write_fails_with_the_reason_and_the_rest_stays(self, copied, monkeypatch):
        out, suite, (folder, other) = copied
        before = {p.name: p.read_bytes() for p in other.iterdir()}
        shutil.rmtree(folder)
        replace = os.replace

        def full_for_the_model(source, target):  # the disk fills up as the model is written
            if Path(target).name == store.MODEL:
                raise OSError(errno.ENOSPC, "No space left on device")
            replace(source, target)

        monkeypatch.setattr(os, "replace", full_for_the_model)
        summary = run_suite(suite, out, backend="sequential", progress=False)
        assert summary.exit_code == 1 and len(summary.skipped) == 1
        (outcome,) = summary.outcomes
        assert outcome.status == "failed" and outcome.reason == (
            f"OSError: [Errno {errno.ENOSPC}] cannot write {folder / store.MODEL}: No space left on device "
            "(the disk is full or over a quota or size limit)")
        assert store.read_json(folder / store.METRICS)["reason"] == outcome.reason
        assert {p.name: p.read_bytes() for p in other.iterdir()} == before
        assert store.damage(other) is None and not list(folder.glob(".*.tmp"))

    def test_a_write_that_fails_leaves_no_partial_file(self, tmp_path, monkeypatch):
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EDQUOT, "Quota")))
        with pytest.raises(OSError, match=r"cannot write .*model.pt: Quota \(the disk is full"):
            store.atomic_write_bytes(tmp_path / "model.pt", b"weights")
        assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- processes (slow)

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def bench_cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *map(str, args), "--quiet"]


def slow_suite(root: Path, seeds: list[int], epochs: int = 4, name: str = "tiny") -> Path:
    """Cells of a few seconds each, with checkpoints to resume from."""
    path = root / f"{name}-{'-'.join(map(str, seeds))}.toml"
    path.write_text(f'name = "{name}"\nremedies = ["none"]\nseeds = {seeds}\n{TINY_DATA}\n'
                    f"{TINY_TABLES.replace('epochs = 2', f'epochs = {epochs}')}\n")
    return path


def wait_until(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Poll `condition` while `process` runs; fail if it ends first."""
    while not condition():
        assert process.poll() is None, "the process ended before the moment the test waits for"
        time.sleep(0.01)


def holder(folder: Path) -> int:
    """The pid that last held the run's lock."""
    return int((folder / store.LOCK).read_text().split()[1])


def parent_of(pid: int) -> int:
    """The parent's pid, from /proc: the worker that started a cell's process."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def folders_of(path: Path, out: Path) -> list[Path]:
    return [store.run_dir(out, "tiny", cell.run_id) for cell in load_suite(path).cells]


@pytest.mark.slow
class TestProcesses:
    def test_sigterm_stops_run_and_its_workers_and_the_next_run_loses_nothing(self, tmp_path):
        path, out = slow_suite(tmp_path, [0, 1, 2, 3]), tmp_path / "out"
        folders = folders_of(path, out)
        suite = subprocess.Popen(bench_cli("run", path, "--out", out, "--jobs", "2"), env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: any((f / CHECKPOINT).exists() for f in folders), suite)
        suite.send_signal(signal.SIGTERM)
        _, stderr = suite.communicate(timeout=120)
        assert suite.returncode == 143, stderr
        assert any(line.startswith("Interrupted by SIGTERM:") for line in stderr.splitlines()), stderr
        cut = [f for f in folders if store.run_status(f) != "finished" and (f / store.LOCK).exists()]
        assert cut, "no cell was running"
        for folder in cut:  # the workers stop too (joblib kills them), leaving whole checkpoints
            deadline = time.monotonic() + 60
            while not gone(holder(folder)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert gone(holder(folder)), "a worker outlived its suite"
        epochs = {f: store.load_torch(f / CHECKPOINT)["epoch"] for f in cut if (f / CHECKPOINT).exists()}
        assert epochs and store.run_status(next(iter(epochs))) is None
        done = {f: (f / store.METRICS).read_bytes() for f in folders if store.run_status(f) == "finished"}

        rerun = subprocess.run(bench_cli("run", path, "--out", out, "--jobs", "2"), env=ENV,
                               capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert f"4 finished ({4 - len(done)} now, {len(done)} already done)" in rerun.stdout
        assert all((f / store.METRICS).read_bytes() == content for f, content in done.items()), "redone"
        for folder, epoch in epochs.items():
            assert store.read_json(folder / store.METRICS)["resumed_from_epoch"] == epoch, "not resumed"
        assert not [p for f in folders for p in [*f.glob(".*.tmp"), f / CHECKPOINT] if p.exists()]

    def test_two_runs_on_one_store_run_every_cell_once(self, tmp_path):
        out = tmp_path / "out"
        first, second = slow_suite(tmp_path, [0, 1, 2], epochs=2), slow_suite(tmp_path, [1, 2, 3], epochs=2)
        both = [subprocess.Popen(bench_cli("run", path, "--out", out, "--jobs", "1"), env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for path in (first, first, second)]
        results = [process.communicate(timeout=300) for process in both]
        assert [process.returncode for process in both] == [0, 0, 0], results
        now = [int(re.search(r"finished \((\d+) now", stdout).group(1)) for stdout, _ in results]
        folders = {*folders_of(first, out), *folders_of(second, out)}
        assert sum(now) == len(folders) == 4, results  # a cell run by two would count twice
        assert all(store.run_status(f) == "finished" for f in folders)
        assert all(store.read_json(f / store.METRICS)["resumed_from_epoch"] is None for f in folders)

    def test_a_full_disk_fails_the_cell_with_its_reason_and_keeps_earlier_runs(self, tmp_path):
        out = tmp_path / "out"
        earlier = subprocess.run(bench_cli(*TRAIN, "--seed", "0", "--out", out), env=ENV,
                                 capture_output=True, text=True, timeout=300)
        assert earlier.returncode == 0, earlier.stderr
        (kept,) = (out / "train" / "runs").iterdir()
        before = {p.name: p.read_bytes() for p in kept.iterdir()}
        limit = (kept / store.MODEL).stat().st_size // 2  # metrics.json fits, model.pt does not

        def small_disk() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        full = subprocess.run(bench_cli(*TRAIN, "--seed", "1", "--out", out), env=ENV, capture_output=True,
                              text=True, timeout=300, preexec_fn=small_disk)
        assert full.returncode == 1
        assert f"cannot write {out}" in full.stderr and "File too large (the disk is full" in full.stderr
        (failed,) = [f for f in (out / "train" / "runs").iterdir() if f != kept]
        assert store.run_status(failed) == "failed"
        assert "File too large" in store.read_json(failed / store.METRICS)["reason"]
        assert not list(failed.glob(".*.tmp"))
        assert {p.name: p.read_bytes() for p in kept.iterdir()} == before and store.damage(kept) is None

    @pytest.mark.parametrize("backend", ["loky", "dask"])
    def test_a_cell_killed_like_the_oom_killer_does_is_named_and_the_rest_run_on(self, backend, tmp_path):
        path, out, folders, suite, victim = run_until_a_checkpoint(tmp_path, "--backend", backend)
        os.kill(holder(victim), signal.SIGKILL)  # the cell's own process, which the OOM killer picks
        stderr = only_it_failed(suite, victim, folders, "worker killed (signal 9, SIGKILL), most likely by")
        assert "a worker died" not in stderr, "no other cell was lost with it"
        assert all(store.read_json(f / store.METRICS)["resumed_from_epoch"] is None for f in folders
                   if f != victim), "the cells beside it ran on undisturbed"
        epoch = store.load_torch(victim / CHECKPOINT)["epoch"]

        retry = subprocess.run(bench_cli("run", path, "--out", out, "--retry-failed"), env=ENV,
                               capture_output=True, text=True, timeout=300)
        assert retry.returncode == 0, retry.stderr
        assert "3 finished (1 now, 2 already done)" in retry.stdout
        assert store.read_json(victim / store.METRICS)["resumed_from_epoch"] == epoch

    def test_a_loky_worker_that_dies_itself_costs_its_cell_only(self, tmp_path):
        _, _, folders, suite, victim = run_until_a_checkpoint(tmp_path)
        first = holder(victim)
        os.kill(parent_of(first), signal.SIGKILL)  # loky then kills every worker: whose cell was it?
        wait_until(lambda: holder(victim) != first and (victim / CHECKPOINT).exists()
                   and store.run_status(victim) is None, suite)
        os.kill(parent_of(holder(victim)), signal.SIGKILL)  # again, now that it runs alone: it is the culprit
        stderr = only_it_failed(suite, victim, folders, "worker killed (exit code SIGKILL(-9)), most likely")
        assert "a worker died (exit code SIGKILL(-9)) while 3 cells had not come back" in stderr

    def test_a_dask_worker_that_dies_itself_costs_its_cell_only(self, tmp_path):
        pytest.importorskip("distributed")
        once = {**ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # dask gives up at once
        _, _, folders, suite, victim = run_until_a_checkpoint(tmp_path, "--backend", "dask", env=once)
        os.kill(parent_of(holder(victim)), signal.SIGKILL)
        only_it_failed(suite, victim, folders, "worker killed (dask lost the worker running it), most likely")
        assert all(store.read_json(f / store.METRICS)["resumed_from_epoch"] is None for f in folders
                   if f != victim)


def run_until_a_checkpoint(tmp_path: Path, *args: str, env: dict[str, str] = ENV
                           ) -> tuple[Path, Path, list[Path], subprocess.Popen, Path]:
    """Start `run` of three 3-epoch cells, two at a time, and return once one of them has a checkpoint:
    the suite file, the store, the run folders, the running suite, and that cell's folder."""
    path, out = slow_suite(tmp_path, [0, 1, 2], epochs=3), tmp_path / "out"
    folders = folders_of(path, out)
    suite = subprocess.Popen(bench_cli("run", path, "--out", out, "--jobs", "2", *args), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: any((f / CHECKPOINT).exists() for f in folders), suite)
    return path, out, folders, suite, next(f for f in folders if (f / CHECKPOINT).exists())


def only_it_failed(suite: subprocess.Popen, victim: Path, folders: list[Path], reason: str) -> str:
    """Wait for the suite; check that it went on and ended with `victim` alone failed, for a reason
    starting with `reason`, named in its summary. Returns its stderr."""
    stdout, stderr = suite.communicate(timeout=300)
    assert suite.returncode == 1, stderr
    assert "2 finished (2 now, 0 already done), 1 failed" in stdout
    recorded = store.read_json(victim / store.METRICS)["reason"]
    assert recorded.startswith(reason), recorded
    assert f"failed {victim.name} (synthetic / none / seed" in stderr and recorded in stderr
    assert all(store.run_status(f) == "finished" for f in folders if f != victim)
    return stderr


def test_a_diverging_run_stays_recorded_as_failed_with_its_step_and_reason(tmp_path):
    """(Also end to end through a suite: test_scheduler.py::TestFailures.)"""
    run = resolve("synthetic", "none", 0, {"data.synthetic_size": 200, "train.lr": 1e30,
                                                  "train.threads": 1, "train.diag_every": 0})
    metrics = execute(plan_run(run), tmp_path, "t")
    assert metrics["status"] == "failed"
    assert re.fullmatch(r"Diverged: non-finite loss \S+ at step \d+, epoch \d+", metrics["reason"])
    assert store.read_json(store.run_dir(tmp_path, "t", run.run_id()) / store.METRICS) == metrics
