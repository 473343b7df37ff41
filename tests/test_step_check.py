"""benchmarks/step_check.py without any authors' checkout: how it runs their code (imports kept
apart, shims that last only while their code runs, shared noise), what it refuses, and that its
lockstep sees two identical sides as identical and Fu et al.'s step rule as `Trainer.run_step`."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from conftest import benchmark_script

import bench.models.vae as harness_vae

ARGS = argparse.Namespace(seed=0, clip=0.05, steps=4)


@pytest.fixture(scope="module")
def step_check() -> Iterator[ModuleType]:
    yield from benchmark_script("step_check")


def test_their_modules_and_stubs_are_forgotten_on_leaving(step_check: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "collapse_bench_theirs.py").write_text("VALUE = 1\n")
    path_before = list(sys.path)
    with step_check.imported_from(tmp_path, stubs=("collapse_bench_absent_package",)):
        assert importlib.import_module("collapse_bench_theirs").VALUE == 1
        assert "collapse_bench_absent_package" in sys.modules
    assert "collapse_bench_theirs" not in sys.modules
    assert "collapse_bench_absent_package" not in sys.modules
    assert sys.path == path_before


def test_their_day_lasts_only_while_their_code_runs(step_check: ModuleType) -> None:
    layer = torch.nn.Linear(1, 1)
    with step_check.as_in_their_day():
        assert float(torch.tensor(2.5)[0]) == 2.5  # `loss.data[0]` of PyTorch 0.3
        assert torch.tensor([1.0, 2.0])[1] == 2.0
        assert layer.cuda() is layer and layer.weight.device.type == "cpu"
        assert torch.cuda.FloatTensor(3).device.type == "cpu"
    with pytest.raises(IndexError):
        torch.tensor(2.5)[0]


def test_shared_noise_replaces_the_harness_draw_only_inside(step_check: ModuleType) -> None:
    noise = torch.full((2, 1, 3), 2.0)
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    with step_check.shared_noise(None, noise):
        assert torch.equal(harness_vae.sample_posterior(mu, logvar, 1, None), noise)
    assert not torch.equal(harness_vae.sample_posterior(mu, logvar, 1, None), noise)


@pytest.mark.parametrize("argv,message", [([], "give at least one checkout"),
                                          (["--bn-vae-repo", "{tmp}"], "has no text_anneal_fb.py")])
def test_refuses_without_a_checkout_it_can_use(step_check: ModuleType, tmp_path: Path, capsys,
                                               monkeypatch, argv: list[str], message: str) -> None:
    monkeypatch.setattr(sys, "argv", ["step_check.py", *(arg.format(tmp=tmp_path) for arg in argv)])
    with pytest.raises(SystemExit) as stop:
        step_check.main()
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_two_identical_sides_agree_exactly(step_check: ModuleType) -> None:
    first, second = (step_check.harness_trainer("none", ARGS) for _ in range(2))
    second.model.load_state_dict(first.model.state_dict())
    gaps = step_check.in_lockstep(
        ARGS.steps, len(first.corpus.vocab), lambda _, batch: step_check.harness_step(first, batch),
        lambda _, batch: step_check.harness_step(second, batch),
        lambda: step_check.state_gap(first.model, second.model),
        torch.zeros(step_check.BATCH, 1, step_check.NZ), ARGS.seed, lambda index: index)
    assert gaps == (0.0, 0.0)


def test_fu_et_al_step_rule_under_the_harness_schedule_is_run_step(step_check: ModuleType) -> None:
    """Their rule (one Adam, nll + beta x KL) at `cyclical`'s own weights and rates: `Trainer.run_step`."""
    trainer = step_check.harness_trainer("cyclical", ARGS, {"train.optimizer": "adam", "train.lr": 1e-3,
                                                            "train.epochs": 40})
    schedule = step_check.harness_schedule(trainer)
    model = copy.deepcopy(trainer.model)
    optimiser = torch.optim.Adam(model.parameters(), lr=schedule[0][1])

    def kl_loss_diag(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:  # their utils.py's formula
        return (-0.5 * torch.sum(logvar - mu.pow(2) - logvar.exp() + 1, 1)).mean()

    with step_check.shared_noise(None, noise := torch.zeros(step_check.BATCH, 1, step_check.NZ)):
        loss_gap, weight_gap = step_check.in_lockstep(
            ARGS.steps, len(trainer.corpus.vocab),
            lambda index, batch: step_check.fu_step(model, optimiser, batch, *schedule[index], kl_loss_diag,
                                                    ARGS.clip),
            lambda _, batch: step_check.harness_step(trainer, batch).mean(),
            lambda: step_check.state_gap(trainer.model, model),
            noise, ARGS.seed, lambda index: index)
    assert loss_gap <= step_check.LOSS_TOLERANCE
    assert weight_gap <= step_check.WEIGHT_TOLERANCE
