"""The scheduler: backends, failures that do not stop a suite, run locks, and the order of cells."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench import scheduler, store
from bench.cli import cli
from bench.config import RunConfig
from bench.errors import ConfigError
from bench.scheduler import estimated_cost, run_suite
from bench.single_run import execute, plan_run
from bench.suite import load_suite
from bench.train import Trainer


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def statuses(out, suite):
    return {cell.run_id: store.run_status(store.run_dir(out, suite.name, cell.run_id))
            for cell in suite.cells}


class TestBackends:
    def test_loky_runs_every_cell_and_a_rerun_does_no_work(self, write_suite, tmp_path):
        suite = load_suite(write_suite('remedies = ["none"]\nseeds = [0, 1]'))
        summary = run_suite(suite, tmp_path, backend="loky", jobs=2, progress=False)
        assert summary.exit_code == 0 and summary.count("finished") == 2
        assert set(statuses(tmp_path, suite).values()) == {"finished"}
        record = json.loads((tmp_path / "tiny" / store.SUITE).read_text())
        assert [cell["run_id"] for cell in record["cells"]] == [cell.run_id for cell in suite.cells]
        assert {cell["label"] for cell in record["cells"]} == {None}

        labelled = load_suite(write_suite('label = "plain VAE"\nremedies = ["none"]\nseeds = [0, 1]'))
        again = run_suite(labelled, tmp_path, backend="loky", progress=False)
        assert again.exit_code == 0 and again.count("finished") == 0 and len(again.skipped) == 2
        assert "2 finished (0 now, 2 already done)" in again.line()
        record = json.loads((tmp_path / "tiny" / store.SUITE).read_text())  # relabelled without a rerun
        assert {cell["label"] for cell in record["cells"]} == {"plain VAE"}

    def test_dask_on_an_existing_local_cluster(self, write_suite, tmp_path):
        from distributed import LocalCluster

        path = write_suite('remedies = ["none"]\nseeds = [0, 1]')
        cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None)
        with cluster:
            result = invoke("run", str(path), "--out", str(tmp_path), "--quiet",
                            "--scheduler-address", cluster.scheduler_address)
        assert result.exit_code == 0, result.output
        assert "2 finished (2 now" in result.output
        assert set(statuses(tmp_path, load_suite(path)).values()) == {"finished"}

    def test_dask_on_a_local_cluster_of_its_own(self, write_suite, tmp_path):
        suite = load_suite(write_suite('remedies = ["none"]\nseeds = [0, 1]'))
        summary = run_suite(suite, tmp_path, backend="dask", jobs=1, progress=False)
        assert summary.exit_code == 0 and summary.count("finished") == 2

    def test_dask_missing_is_one_line_before_anything_is_written(self, write_suite, tmp_path, monkeypatch):
        monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
        out = tmp_path / "results"
        path = write_suite('remedies = ["none"]')
        result = invoke("run", str(path), "--backend", "dask", "--out", str(out))
        assert result.exit_code == 2
        assert "pip install 'collapse-bench[dask]'" in result.output
        assert not out.exists()

    def test_unreachable_scheduler_is_a_config_error(self, write_suite, tmp_path, monkeypatch):
        monkeypatch.setattr(scheduler, "CONNECT_TIMEOUT", "1s")
        suite = load_suite(write_suite('remedies = ["none"]'))
        with pytest.raises(ConfigError, match=r"cannot reach the dask scheduler at tcp://127\.0\.0\.1:9"):
            run_suite(suite, tmp_path, backend="dask", scheduler_address="tcp://127.0.0.1:9", progress=False)
        assert not (tmp_path / "tiny").exists()


class TestFailures:
    SUITE = 'remedies = ["none", { spec = "beta(beta=0.5)", train.lr = 1e30 }]'  # the second diverges

    def test_a_failed_cell_is_recorded_and_the_suite_goes_on(self, write_suite, tmp_path):
        path = write_suite(self.SUITE)
        result = invoke("run", str(path), "--out", str(tmp_path), "--backend", "sequential", "--quiet")
        assert result.exit_code == 1
        assert "1 finished (1 now, 0 already done), 1 failed" in result.output
        assert "Diverged: non-finite loss" in result.output
        assert "--retry-failed" in result.output
        failed, finished = (load_suite(path).cells[i] for i in (1, 0))
        record = store.read_json(store.run_dir(tmp_path, "tiny", failed.run_id) / store.METRICS)
        assert record["status"] == "failed" and record["reason"].startswith("Diverged")
        assert store.run_status(store.run_dir(tmp_path, "tiny", finished.run_id)) == "finished"

        metrics = store.run_dir(tmp_path, "tiny", failed.run_id) / store.METRICS
        before = metrics.stat().st_mtime_ns, metrics.read_bytes()  # a rerun would record new timings
        result = invoke("run", str(path), "--out", str(tmp_path), "--backend", "sequential", "--quiet")
        assert result.exit_code == 1 and "(earlier run)" in result.output
        assert (metrics.stat().st_mtime_ns, metrics.read_bytes()) == before, \
            "a failed cell is not rerun without --retry-failed"

    def test_retry_failed_reruns_a_cell_that_failed_for_a_passing_reason(self, write_suite, tmp_path,
                                                                         monkeypatch):
        path = write_suite('remedies = ["none"]\nseeds = [0, 1]')
        run_epoch = Trainer.run_epoch

        def out_of_memory_in_seed_1(self, progress=None):
            if self.cfg.seed == 1:
                raise RuntimeError("out of memory")
            run_epoch(self, progress)

        monkeypatch.setattr(Trainer, "run_epoch", out_of_memory_in_seed_1)
        args = ["run", str(path), "--out", str(tmp_path), "--backend", "sequential", "--quiet"]
        assert invoke(*args).exit_code == 1
        monkeypatch.setattr(Trainer, "run_epoch", run_epoch)
        result = invoke(*args, "--retry-failed")
        assert result.exit_code == 0, result.output
        assert "2 finished (1 now, 1 already done)" in result.output


class TestRunLock:
    def test_a_held_run_cannot_be_locked_again(self, tmp_path):
        with store.run_lock(tmp_path / "run"), pytest.raises(store.RunLocked, match=r"pid \d+ on "), \
                store.run_lock(tmp_path / "run"):
            pass
        with store.run_lock(tmp_path / "run"):  # released on exit
            pass

    def test_the_lock_of_a_killed_process_is_free(self, tmp_path):
        holder = subprocess.Popen([sys.executable, "-c", (
            "import sys, time; from pathlib import Path; from bench.store import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)"
        ), str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(store.RunLocked, match=f"pid {holder.pid} "), store.run_lock(tmp_path / "run"):
                pass
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        with store.run_lock(tmp_path / "run"):
            pass

    def test_execute_leaves_a_locked_run_alone(self, write_suite, tmp_path):
        (cell,) = load_suite(write_suite('remedies = ["none"]')).cells
        folder = store.run_dir(tmp_path, "tiny", cell.run_id)
        with store.run_lock(folder):
            metrics = execute(plan_run(cell.run), tmp_path, "tiny")
        assert metrics["status"] == "busy"
        assert [p.name for p in folder.iterdir()] == [store.LOCK]


def test_longest_cells_start_first(write_suite, tmp_path, monkeypatch):
    suite = load_suite(write_suite('remedies = ["none", { spec = "beta", train.epochs = 3 }]'))
    short, long = suite.cells
    assert estimated_cost(long) > estimated_cost(short)
    started = []  # run ids in the order their cells start: a list, so no two can tie as timestamps can
    run_cell = scheduler.run_cell

    def recording(record, *args, **kwargs):
        started.append(RunConfig.from_dict(record).run_id())
        return run_cell(record, *args, **kwargs)

    monkeypatch.setattr(scheduler, "run_cell", recording)
    run_suite(suite, tmp_path, backend="sequential", progress=False)
    assert started == [long.run_id, short.run_id]
