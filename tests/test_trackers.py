"""--log-to: the curves a tracker receives are the ones the run stores, and logging changes no run id."""

import json
import logging

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import stop_in_epoch

from bench import store
from bench.cli import cli
from bench.errors import ConfigError
from bench.single_run import execute, plan_run, resolve
from bench.trackers import Fanout, Tracker, check_trackers

TINY = {"data.synthetic_size": 200, "train.epochs": 2, "eval.iw_samples": 5, "train.diag_every": 3,
        "train.threads": 1}
TINY_ARGS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


def assert_series(got, steps, values):
    """`got` (step, value) pairs are `steps` with `values`, up to float32 rounding (TensorBoard's)."""
    assert [step for step, _ in got] == [int(step) for step in steps]
    assert [value for _, value in got] == pytest.approx([float(value) for value in values], rel=1e-6)


def stored(folder):
    """The run's curve (per step) and metrics.json, as the store has them."""
    return store.read_table(folder, store.CURVE), store.read_json(folder / store.METRICS)


def test_tensorboard_gets_every_curve_and_the_run_id_stays(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    logged = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--log-to", "tensorboard", "--quiet",
                                      *TINY_ARGS])
    assert logged.exit_code == 0, logged.output
    (folder,) = (tmp_path / "train" / "runs").iterdir()
    again = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--quiet", *TINY_ARGS])
    assert again.exit_code == 0 and [p.name for p in (tmp_path / "train" / "runs").iterdir()] == [folder.name]

    events = event_accumulator.EventAccumulator(str(tmp_path / "train" / "tensorboard" / folder.name))
    events.Reload()
    curve, metrics = stored(folder)

    def series(tag):
        return [(event.step, event.value) for event in events.Scalars(tag)]

    for key in ("kl_weight", "rec", "kl", "elbo"):
        assert_series(series(f"train/{key}"), curve["step"], curve[key])
    diagnosed = curve.dropna(subset=["mi"])
    assert_series(series("train/mi"), diagnosed["step"], diagnosed["mi"])
    assert_series(series("train/au"), diagnosed["step"], diagnosed["au"])
    validation = pd.DataFrame(metrics["validation"])
    for key in ("loss", "kl", "mi", "au", "lr"):
        assert_series(series(f"valid/{key}"), validation["epoch"], validation[key])
    assert_series(series("test/nll"), [0], [metrics["test"]["nll"]])


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """A local MLflow file store, for this test only; its client."""
    tracking = pytest.importorskip("mlflow.tracking")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants a database unless told
    return tracking.MlflowClient()


def test_mlflow_gets_every_curve_and_a_resumed_run_continues_its_mlflow_run(tmp_path, mlflow_store,
                                                                           monkeypatch):
    run = resolve("synthetic", "kl-annealing(epochs=1)", 0, {**TINY, "train.epochs": 3})
    cfg = run.config
    resume_training = stop_in_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        execute(plan_run(run), tmp_path, "tiny", log_to=("mlflow",))
    (cut,) = mlflow_store.search_runs([mlflow_store.get_experiment_by_name("tiny").experiment_id])
    assert cut.info.status == "KILLED" and cut.data.tags["run_id"] == cfg.run_id()
    resume_training()
    metrics = execute(plan_run(run), tmp_path, "tiny", log_to=("mlflow",))
    assert metrics["status"] == "finished"

    (run,) = mlflow_store.search_runs([mlflow_store.get_experiment_by_name("tiny").experiment_id])
    assert run.info.run_id == cut.info.run_id and run.info.status == "FINISHED"
    assert run.data.params["model.nz"] == "2" and run.data.params["remedy"] == cfg.remedy
    assert run.data.tags["remedy"] == cfg.remedy and run.data.tags["seed"] == "0"

    def series(key):
        return sorted((m.step, m.value) for m in mlflow_store.get_metric_history(run.info.run_id, key))

    curve, stored_metrics = stored(store.run_dir(tmp_path, "tiny", cfg.run_id()))
    # Steps of the epoch cut short are logged twice (before the cut and after the resume), with equal
    # values: the resumed run repeats that epoch exactly.
    assert_series(sorted(set(series("train/kl_weight"))), curve["step"], curve["kl_weight"])
    validation = pd.DataFrame(stored_metrics["validation"])
    assert_series(series("valid/loss"), validation["epoch"], validation["loss"])
    assert_series(series("test/mi"), [0], [stored_metrics["test"]["mi"]])


def test_a_tracker_that_fails_is_dropped_and_the_run_goes_on(caplog):
    class Broken(Tracker):
        def log_step(self, row):
            raise ConnectionError("tracking server gone")

    calls = []

    class Counting(Tracker):
        def log_step(self, row):
            calls.append(row["step"])

    fanout = Fanout()
    fanout.start("mlflow", Broken)
    fanout.start("tensorboard", Counting)
    with caplog.at_level(logging.WARNING, logger="bench.trackers"):
        fanout.log_step({"step": 0, "kl": 1.0})
        fanout.log_step({"step": 1, "kl": 1.0})
    assert calls == [0, 1] and [name for name, _ in fanout.trackers] == ["tensorboard"]
    assert caplog.messages == ["--log-to mlflow stopped (ConnectionError: tracking server gone); "
                               "the run goes on without it"]


def test_a_missing_tracker_package_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorboard" else find_spec(name, *args))
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "out"), "--log-to", "tensorboard"])
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: --log-to tensorboard needs the tensorboard package: "
                                     "pip install 'collapse-bench[tensorboard]'")
    assert not (tmp_path / "out").exists()


def test_an_mlflow_store_that_cannot_open_is_a_config_error(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    opening = r"^--log-to mlflow cannot open the tracking store nosuchscheme://nowhere \(set MLFLOW_TRACKING"
    with pytest.raises(ConfigError, match=opening):
        check_trackers(["mlflow"])


def test_the_env_variable_chooses_trackers_too(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("COLLAPSE_BENCH_LOG_TO", "tensorboard")
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--quiet", *TINY_ARGS,
                                      "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "train" / "runs").iterdir()
    assert list((tmp_path / "train" / "tensorboard" / folder.name).glob("events.out.tfevents.*"))
    assert "log" not in json.dumps(store.read_json(folder / store.CONFIG))
