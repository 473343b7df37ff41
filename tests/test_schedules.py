"""Every KL schedule against its paper's formula, written here independently of remedies/."""

import doctest
import math

import pytest
import torch

import remedies.cyclical
import remedies.free_bits
import remedies.kl_annealing
from remedies import registry
from remedies.base import Horizon

SPE = 100  # steps per epoch in these tests


def horizon(epochs: int = 8) -> Horizon:
    return Horizon(steps_per_epoch=SPE, epochs=epochs)


@pytest.mark.parametrize(
    "module", [remedies.kl_annealing, remedies.cyclical, remedies.free_bits], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


class TestLinearAnnealing:
    """He et al. 2019: w(t) = start + (1 - start) * min(1, t / (epochs * steps per epoch))."""

    @pytest.mark.parametrize("step", [0, 1, 250, 500, 999, 1000, 1001, 5000])
    def test_he_et_al_default_is_0_1_to_1_over_10_epochs(self, step):
        expected = 0.1 + 0.9 * min(1.0, step / 1000)
        assert registry.parse("kl-annealing").kl_weight(step, horizon()) == pytest.approx(expected)

    def test_known_values(self):
        remedy = registry.parse("kl-annealing")
        assert remedy.kl_weight(0, horizon()) == pytest.approx(0.1)
        assert remedy.kl_weight(500, horizon()) == pytest.approx(0.55)
        assert remedy.kl_weight(1000, horizon()) == 1.0

    @pytest.mark.parametrize("step", [0, 30, 60, 120])
    def test_steps_override_epochs(self, step):
        remedy = registry.parse("kl-annealing(start=0,steps=60,epochs=10)")
        assert remedy.kl_weight(step, horizon()) == pytest.approx(min(1.0, step / 60))

    def test_fractional_epochs(self):
        remedy = registry.parse("kl-annealing(start=0,epochs=0.5)")
        assert remedy.kl_weight(25, horizon()) == pytest.approx(0.5)

    def test_no_warmup_is_the_plain_elbo(self):
        assert registry.parse("kl-annealing(epochs=0)").kl_weight(0, horizon()) == 1.0


class TestLogisticAnnealing:
    """Bowman et al. 2016's sigmoid, centred at W/2, rescaled to run from start to exactly 1."""

    @staticmethod
    def reference(step: float, warmup: float, start: float, k: float) -> float:
        def sig(t: float) -> float:
            return 1 / (1 + math.exp(-k * (t / warmup - 0.5)))

        t = min(step, warmup)
        return start + (1 - start) * (sig(t) - sig(0)) / (sig(warmup) - sig(0))

    @pytest.mark.parametrize("step", [0, 100, 250, 400, 500, 600, 900, 1000, 3000])
    @pytest.mark.parametrize("start,k", [(0.0, 10.0), (0.1, 10.0), (0.0, 4.0)])
    def test_matches_formula(self, step, start, k):
        remedy = registry.parse(f"kl-annealing(shape=logistic,start={start},steepness={k})")
        assert remedy.kl_weight(step, horizon()) == pytest.approx(self.reference(step, 1000, start, k))

    def test_ends_and_centre(self):
        remedy = registry.parse("kl-annealing(shape=logistic,start=0)")
        assert remedy.kl_weight(0, horizon()) == pytest.approx(0.0, abs=1e-12)
        assert remedy.kl_weight(500, horizon()) == pytest.approx(0.5)
        assert remedy.kl_weight(1000, horizon()) == pytest.approx(1.0)
        weights = [remedy.kl_weight(step, horizon()) for step in range(0, 1200, 10)]
        assert weights == sorted(weights)


def frange_cycle_linear(n_iter: int, start: float, stop: float, n_cycle: int, ratio: float) -> list:
    """Fu et al.'s schedule as their code builds it: fill each cycle from `start` upwards."""
    weights = [stop] * n_iter
    period = n_iter / n_cycle
    increment = (stop - start) / (period * ratio)
    for cycle in range(n_cycle):
        value, i = start, 0
        while value <= stop and int(i + cycle * period) < n_iter:
            weights[int(i + cycle * period)] = value
            value += increment
            i += 1
    return weights


class TestCyclical:
    """Fu et al. 2019: M cycles over the horizon, linear ramp over the first R of each."""

    @pytest.mark.parametrize("cycles,ratio,start", [(4, 0.5, 0.0), (4, 0.5, 0.1), (2, 0.25, 0.0)])
    def test_matches_fu_et_al_code(self, cycles, ratio, start):
        remedy = registry.parse(f"cyclical(cycles={cycles},ratio={ratio},start={start})")
        reference = frange_cycle_linear(8 * SPE, start, 1.0, cycles, ratio)
        ours = [remedy.kl_weight(step, horizon()) for step in range(8 * SPE)]
        assert ours == pytest.approx(reference, abs=1e-9)

    def test_known_values(self):
        remedy = registry.parse("cyclical(start=0)")  # period 200 steps, ramp over 100
        values = {step: remedy.kl_weight(step, horizon()) for step in (0, 50, 100, 199, 200, 250, 799)}
        assert values == pytest.approx({0: 0.0, 50: 0.5, 100: 1.0, 199: 1.0, 200: 0.0, 250: 0.5,
                                        799: 1.0})

    def test_default_restarts_at_0_1_as_fu_et_al_ptb_script(self):
        remedy = registry.parse("cyclical")
        assert remedy.kl_weight(0, horizon()) == pytest.approx(0.1)
        assert remedy.kl_weight(200, horizon()) == pytest.approx(0.1)
        assert remedy.kl_weight(50, horizon()) == pytest.approx(0.55)

    def test_the_cycles_divide_the_horizon_they_are_given(self):
        assert registry.parse("cyclical(start=0)").kl_weight(50, horizon(epochs=4)) == pytest.approx(1.0)
        assert registry.parse("cyclical(start=0)").kl_weight(50, horizon(epochs=8)) == pytest.approx(0.5)

    @pytest.mark.parametrize("step", [0, 50, 170])
    def test_lr_restart_can_be_turned_off(self, step):
        assert registry.parse("cyclical(lr_restart=false)").lr_factor(step, horizon()) == 1.0

    @pytest.mark.parametrize("step", [0, 50, 100, 150, 200, 330])
    def test_cosine_lr_restart_per_cycle_by_default(self, step):
        position = (step % 200) / 200
        expected = 0.5 * (1 + math.cos(math.pi * position))
        assert registry.parse("cyclical").lr_factor(step, horizon()) == pytest.approx(expected)


@pytest.mark.parametrize("beta", [0.0, 0.2, 0.4, 1.0])
def test_beta_is_constant(beta):
    remedy = registry.parse(f"beta(beta={beta})")
    assert {remedy.kl_weight(step, horizon()) for step in (0, 10, 10_000)} == {beta}


@pytest.mark.parametrize("step", [0, 300, 1000, 2000])
def test_pretrain_fb_warms_up_linearly_from_zero(step):
    remedy = registry.parse("pretrain-fb(warmup_epochs=10)")
    assert remedy.kl_weight(step, horizon()) == pytest.approx(min(1.0, step / 1000))


class TestFreeBits:
    """Kingma et al. 2016 (batch mean per unit) and Li et al. 2019 (per sentence and unit)."""

    @staticmethod
    def kl(seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return (torch.rand(16, 6, generator=generator, dtype=torch.float64) * 0.6).requires_grad_()

    def test_batch_mean_equals_sum_of_clamped_unit_means(self):
        kl = self.kl()
        out = registry.parse("free-bits(lam=0.3)").kl_term(kl)
        expected = sum(max(0.3, float(kl[:, d].detach().mean())) for d in range(kl.shape[1]))
        assert out.shape == (16,)
        assert float(out.detach().mean()) == pytest.approx(expected)

    def test_clamped_units_get_no_gradient(self):
        kl = self.kl()
        registry.parse("free-bits(lam=0.3)").kl_term(kl).mean().backward()
        clamped = kl.detach().mean(dim=0) <= 0.3
        assert clamped.any() and (~clamped).any()
        assert torch.all(kl.grad[:, clamped] == 0)
        assert torch.allclose(kl.grad[:, ~clamped], torch.full_like(kl.grad[:, ~clamped], 1 / 16))

    def test_per_example_clamps_each_entry(self):
        kl = self.kl(1)
        out = registry.parse("free-bits(lam=0.3,per_example=true)").kl_term(kl)
        expected = [sum(max(0.3, float(v)) for v in row) for row in kl.detach()]
        assert out.detach().tolist() == pytest.approx(expected)
        out.sum().backward()
        assert torch.equal(kl.grad, (kl.detach() > 0.3).double())

    def test_zero_lambda_is_the_plain_kl(self):
        kl = self.kl(2)
        assert torch.allclose(registry.parse("free-bits(lam=0)").kl_term(kl), kl.sum(dim=1))

    def test_pretrain_fb_threshold_is_target_over_nz(self):
        kl = self.kl(3)
        out = registry.parse("pretrain-fb(target_kl=1.2)").kl_term(kl)  # 1.2 / 6 units = 0.2
        assert torch.allclose(out, kl.clamp(min=0.2).sum(dim=1))
