"""benchmarks/bn_variance.py: BN-VAE's floor as the stored BatchNorm statistics give it, on a tiny suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import benchmark_script

from bench import store
from bench.cli import cli
from bench.report import pages

GAMMA = 0.5
RUNNING_VAR = (1e-9, 1e-3)  # one unit far below BatchNorm's eps of 1e-5, one far above


@pytest.fixture
def bn_variance() -> Iterator[ModuleType]:
    yield from benchmark_script("bn_variance")


@pytest.fixture
def suite_store(write_suite, tmp_path: Path) -> Path:
    """A finished tiny suite: one BN-VAE run (its running variance then set by hand) and one `none` run."""
    path = write_suite(f'remedies = ["bn-vae(gamma={GAMMA})", "none"]\nseeds = [0]')
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(out), "--backend", "sequential"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for model_file in (out / "tiny" / "runs").glob(f"*/{store.MODEL}"):
        weights = store.load_torch(model_file)
        if "encoder.bn.running_var" in weights:
            weights["encoder.bn.running_var"] = torch.tensor(RUNNING_VAR)
            store.save_torch(model_file, weights)
    return out / "tiny"


def test_one_row_per_bn_run_with_the_floor_its_statistics_give(bn_variance, suite_store, tmp_path):
    csv = tmp_path / "bn.csv"
    assert bn_variance.main([str(suite_store), "--out", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert table["remedy_label"].tolist() == [f"bn-vae(gamma={GAMMA})"]  # `none` has no BatchNorm
    row = table.iloc[0]
    eps = torch.nn.BatchNorm1d(1).eps
    assert row["eps"] == eps
    assert row["nz"] == 2 and row["units_var_above_eps"] == 1
    assert row["running_var_min"] == pytest.approx(RUNNING_VAR[0])
    assert row["running_var_max"] == pytest.approx(RUNNING_VAR[1])
    assert row["floor_nominal"] == pytest.approx(2 * GAMMA**2 / 2)
    closed_form = 0.5 * GAMMA**2 * sum(v / (v + eps) for v in RUNNING_VAR)
    assert row["floor_at_eval"] == pytest.approx(closed_form)
    assert row["floor_at_eval"] < row["floor_nominal"] / 1.9  # the unit below eps has lost its share


def test_a_store_without_a_bn_run_is_one_line_and_exit_2(bn_variance, write_suite, tmp_path, capsys):
    path = write_suite('remedies = ["none"]\nseeds = [0]')
    out = tmp_path / "results"
    CliRunner().invoke(cli, ["run", str(path), "--out", str(out), "--backend", "sequential"],
                       catch_exceptions=False)
    csv = tmp_path / "bn.csv"
    assert bn_variance.main([str(out / "tiny"), "--out", str(csv)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not csv.exists()


def test_a_folder_without_runs_is_one_line_and_exit_2(bn_variance, tmp_path, capsys):
    assert bn_variance.main([str(tmp_path), "--out", str(tmp_path / "bn.csv")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_the_results_page_table_shows_the_variance_against_eps_and_both_floors(tmp_path):
    csv = tmp_path / "bn-variance.csv"
    pd.DataFrame([{"remedy_label": "bn-vae(gamma=0.5)", "seed": 0, "escaped": False, "test_kl": 0.0123,
                   "nz": 32, "gamma_rms": 0.5, "eps": 1e-5, "running_var_min": 7e-11,
                   "running_var_median": 6.8e-10, "running_var_max": 7.6e-9, "units_var_above_eps": 0,
                   "floor_nominal": 4.0, "floor_at_eval": 0.00044}]).to_csv(csv, index=False)
    header, _, row = pages.render(csv).strip().splitlines()
    assert "units above eps = 1e-05" in header
    assert row == ("| bn-vae(gamma=0.5) | 0 | no | 0.012 | 6.8e-10 [7.0e-11, 7.6e-09] | 0 / 32 | 4.00 "
                   "| 0.0004 |")
