"""benchmarks/step_check.py without any authors' checkout: how it runs their code (imports kept
apart, shims that last only while their code runs, shared noise), what it refuses, and that its
lockstep sees two identical sides as identical and Fu et al.'s step rule as `Trainer.run_step`."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import math
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


def test_the_harness_schedule_at_their_defaults_is_their_lm_scripts(step_check: ModuleType) -> None:
    """40 epochs of N steps, Adam at 1e-3: beta 0.1 + 1/(5N) at each cycle's first step, 1 from step
    4.5N - 1 (rounded up), reset every 10N; the lr 1e-3 x 0.5 (1 + cos(pi x (epoch mod 10) / 10))."""
    trainer = step_check.harness_trainer("cyclical", ARGS, {"train.optimizer": "adam", "train.lr": 1e-3,
                                                            "train.epochs": 40})
    n = trainer.horizon.steps_per_epoch
    schedule = step_check.harness_schedule(trainer)
    weights, rates = [row[0] for row in schedule], [row[1] for row in schedule]
    assert len(schedule) == 40 * n
    assert weights[0] == weights[10 * n] == weights[30 * n] == pytest.approx(0.1 + 1 / (5 * n))
    peak = math.ceil(4.5 * n) - 1
    assert weights[peak - 1] < 1.0 and weights[peak:10 * n] == [1.0] * (10 * n - peak)
    for epoch in (0, 3, 9, 10, 39):
        expected = 1e-3 * 0.5 * (1 + math.cos(math.pi * (epoch % 10) / 10))
        assert rates[epoch * n:(epoch + 1) * n] == pytest.approx([expected] * n)


def test_a_sum_a_last_bit_short_of_1_still_counts_as_reaching_it(step_check: ModuleType) -> None:
    assert step_check.first_at_largest([0.5, 0.9999999999999999, 1.0, 1.0]) == 1
    assert step_check.first_at_largest([0.5, 0.99, 1.0]) == 2


def test_schedule_report_names_the_first_step_that_differs(step_check: ModuleType) -> None:
    line, worst = step_check.schedule_report("KL weight", [0.1, 0.5, 1.0], [0.1, 0.5, 1.0])
    assert worst == 0.0 and "first beyond rounding: none" in line
    line, worst = step_check.schedule_report("KL weight", [0.14, 0.5, 1.0], [0.1, 0.5, 1.0])
    assert worst == pytest.approx(0.04) and "first beyond rounding: step 0 (theirs 0.14, ours 0.1)" in line
