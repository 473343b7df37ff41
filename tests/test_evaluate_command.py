"""`collapse-bench evaluate RUN`: a stored model scored again beside its metrics, never over them; the
same settings again reuse it; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import as_before_the_per_sentence_table

from bench import store
from bench.cli import cli
from bench.reevaluation import plan_reevaluation, settings_key
from bench.single_run import execute, plan_run, resolve

TINY = {"data.synthetic_size": 100, "data.synthetic_vocab": 20, "data.synthetic_length": 4, "model.emb": 8,
        "model.enc_hidden": 8, "model.dec_hidden": 8, "train.epochs": 1, "train.batch_size": 8,
        "eval.iw_samples": 3, "train.diag_every": 0, "train.threads": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store")
    metrics = execute(plan_run(resolve("synthetic", "none", 0, TINY)), out, "t")
    assert metrics["status"] == "finished"
    return store.run_dir(out, "t", metrics["run_id"])


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run that the test may change."""
    return shutil.copytree(trained, tmp_path / "runs" / trained.name)


def invoke(*args: str):
    return CliRunner().invoke(cli, ["evaluate", *args, "--quiet"])


def evaluations(run: Path) -> list[Path]:
    return sorted((run / store.EVALUATIONS).glob("*/" + store.EVALUATION))


def test_a_new_evaluation_goes_beside_the_runs_metrics(run):
    before = (run / store.METRICS).read_bytes()
    result = invoke(str(run), "--set", "eval.iw_samples=7")
    assert result.exit_code == 0, result.output
    assert (run / store.METRICS).read_bytes() == before
    (path,) = evaluations(run)
    record = json.loads(path.read_text())
    own = json.loads(before)["test"]
    assert record["test"]["iw_samples"] == 7 and record["eval"]["iw_samples"] == 7
    assert record["changed"] == {"eval.iw_samples": 7} and record["run_id"] == run.name
    assert record["evaluated_at"] and record["device"] == "cpu"
    assert path.parent.name == record["key"] == settings_key(record["eval"])
    for key in ("kl", "mi", "au", "n_sentences", "n_words"):  # k moves the NLL only
        assert record["test"][key] == pytest.approx(own[key], abs=1e-6)
    table = store.read_table(path.parent, store.PER_SENTENCE)
    assert table["nll_iw"].mean() == pytest.approx(record["test"]["nll"], rel=1e-12)
    assert record["files"] == store.digests(path.parent, [f.name for f in path.parent.glob("per_sentence.*")])
    assert "evaluated with eval.iw_samples=7: NLL" in result.output
    assert f"{own['nll']:.2f} (k=3)" in result.output  # the run's own numbers, shown beside


def test_the_same_evaluation_again_reuses_the_stored_one(run):
    assert invoke(str(run), "--set", "eval.iw_samples=7").exit_code == 0
    (path,) = evaluations(run)
    stamp = path.stat().st_mtime_ns, path.read_bytes()
    again = invoke(str(run), "--set", "eval.iw_samples=7")
    assert again.exit_code == 0 and "already evaluated on" in again.output
    assert (path.stat().st_mtime_ns, path.read_bytes()) == stamp
    other = invoke(str(run), "--set", "eval.iw_samples=5", "--set", "eval.mi_estimator=batch")
    assert other.exit_code == 0 and len(evaluations(run)) == 2


def test_the_runs_own_settings_answer_from_its_metrics(run):
    result = invoke(str(run))
    assert result.exit_code == 0 and "its own eval settings" in result.output
    assert str(run / store.METRICS) in result.output and not (run / store.EVALUATIONS).exists()


def test_a_run_from_before_the_table_gets_one_and_the_same_metrics(run):
    """Re-scoring the stored weights with the run's own settings gives its metrics back, and a table."""
    metrics = as_before_the_per_sentence_table(run)
    assert invoke(str(run)).exit_code == 0
    (path,) = evaluations(run)
    record = json.loads(path.read_text())
    assert record["changed"] == {} and record["test"] == metrics["test"]
    assert store.read_table(path.parent, store.PER_SENTENCE) is not None


def test_a_damaged_stored_evaluation_is_done_again_with_a_warning(run):
    assert invoke(str(run), "--set", "eval.iw_samples=7").exit_code == 0
    (path,) = evaluations(run)
    path.write_text(path.read_text()[:40])
    result = CliRunner().invoke(cli, ["evaluate", str(run), "--set", "eval.iw_samples=7", "--quiet"])
    assert result.exit_code == 0 and "warning: evaluated again" in result.output
    assert json.loads(path.read_text())["test"]["iw_samples"] == 7


@pytest.mark.parametrize(("setup", "args", "message"), [
    (None, ["--set", "model.nz=3"], "evaluate changes eval settings only, got 'model.nz'"),
    (None, ["--set", "train.epochs=3"], "another train setting makes another model"),
    (None, ["--set", "eval.iw_sample=3"], "Did you mean 'eval.iw_samples'"),
    (None, ["--set", "eval.iw_samples=0"], "eval.iw_samples (k) must be >= 1"),
    (None, ["--set", "eval.iw_samples"], "--set expects key=value"),
    ("missing", [], "is not a run folder (no config.json)"),
    ("unfinished", [], "has not finished (no metrics.json yet)"),
    ("failed", [], "cannot be evaluated: it failed: NaN loss"),
    ("damaged", [], "is damaged"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(run, tmp_path, setup, args, message):
    target = run
    if setup == "missing":
        target = tmp_path / "nowhere"
    elif setup == "unfinished":
        (run / store.METRICS).unlink()
    elif setup == "failed":
        store.write_json(run / store.METRICS, {"status": "failed", "reason": "NaN loss"})
    elif setup == "damaged":
        (run / store.MODEL).write_bytes(b"not a model")
    result = invoke(str(target), *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output
    assert not (run / store.EVALUATIONS).exists()


def test_the_plan_hashes_the_eval_settings_only(run):
    """The key names the settings, not the device nor the order of --set."""
    one = plan_reevaluation(run, {"eval.iw_samples": "9", "eval.mi_batch": "8"})
    two = plan_reevaluation(run, {"eval.mi_batch": "8", "eval.iw_samples": "9"}, device="cpu")
    assert one.key == two.key and one.folder == run / store.EVALUATIONS / one.key
    assert one.key != plan_reevaluation(run, {"eval.iw_samples": "10"}).key


def test_help_teaches_with_an_example():
    result = CliRunner().invoke(cli, ["evaluate", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "collapse-bench evaluate results/" in result.output
    assert "--set eval.iw_samples=500" in result.output and "evaluations/<key>/" in result.output
