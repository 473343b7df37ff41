"""Every KL schedule against its paper's formula, written here independently of remedies/."""

import doctest
import math
import re

import pytest
import torch

import remedies.cyclical
import remedies.free_bits
import remedies.kl_annealing
from bench.errors import ConfigError
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


class TestCyclical:
    """Fu et al. 2019, haofuml/cyclical_annealing. Their language-model script (the default): 40 epochs
    in cycles of 10; beta reset to 0.1 at a cycle's start and raised by 1 / (5 epochs of N steps) before
    every step, capped at 1; lr 0.5 (1 + cos(pi x (epoch mod 10) / 10)) times the base, set per epoch."""

    N = 10  # steps per epoch: their 40 epochs are 400 steps, a cycle 100, the warm-up 50

    def lm_script(self) -> Horizon:
        return Horizon(steps_per_epoch=self.N, epochs=40)

    def test_the_first_step_of_every_cycle_is_already_one_increment_up(self):
        remedy = registry.parse("cyclical")
        for cycle_start in (0, 100, 200, 300):
            assert remedy.kl_weight(cycle_start, self.lm_script()) == pytest.approx(0.1 + 1 / (5 * self.N))

    @pytest.mark.parametrize("step", [0, 1, 20, 43])
    def test_rises_by_one_fiftieth_a_step_on_the_ramp(self, step):
        expected = 0.1 + (step + 1) / 50
        assert registry.parse("cyclical").kl_weight(step, self.lm_script()) == pytest.approx(expected)

    def test_reaches_1_at_45_percent_of_the_cycle_and_holds_it(self):
        remedy = registry.parse("cyclical")
        weights = [remedy.kl_weight(step, self.lm_script()) for step in range(100)]
        assert weights[43] == pytest.approx(0.98)
        assert weights[44:] == pytest.approx([1.0] * 56)  # step 4.5 N - 1 = 44: the 45th of 100
        assert max(weights) == 1.0

    def test_resets_at_the_cycle_boundary(self):
        remedy = registry.parse("cyclical")
        assert remedy.kl_weight(99, self.lm_script()) == 1.0
        assert remedy.kl_weight(100, self.lm_script()) == pytest.approx(0.12)
        assert remedy.kl_weight(399, self.lm_script()) == 1.0

    def test_an_odd_epoch_length_reaches_1_on_the_step_past_4_5_epochs(self):
        remedy = registry.parse("cyclical")  # N = 5: 0.1 + 22/25 = 0.98 at step 21, capped 1.02 at 22
        horizon = Horizon(steps_per_epoch=5, epochs=40)
        assert remedy.kl_weight(21, horizon) == pytest.approx(0.98)
        assert remedy.kl_weight(22, horizon) == 1.0

    @pytest.mark.parametrize("epoch", [0, 1, 5, 9, 10, 13, 39])
    def test_cosine_lr_is_set_once_per_epoch_and_restarts_every_10(self, epoch):
        remedy = registry.parse("cyclical")
        expected = 0.5 * (1 + math.cos(math.pi * (epoch % 10) / 10))
        steps = range(epoch * self.N, (epoch + 1) * self.N)
        factors = [remedy.lr_factor(step, self.lm_script()) for step in steps]
        assert len(set(factors)) == 1 and factors[0] == pytest.approx(expected)

    def test_lr_at_the_last_epoch_of_a_cycle_and_after_the_restart(self):
        remedy = registry.parse("cyclical")
        assert remedy.lr_factor(99, self.lm_script()) == pytest.approx(0.5 * (1 + math.cos(0.9 * math.pi)))
        assert remedy.lr_factor(100, self.lm_script()) == 1.0

    def test_a_cycle_of_1_5_epochs_gives_each_epoch_the_cosine_of_its_first_step(self):
        remedy = registry.parse("cyclical")  # 6 epochs of 100 steps, 4 cycles of 150
        for epoch, position in enumerate([0, 100, 50, 0, 100, 50]):
            expected = 0.5 * (1 + math.cos(math.pi * position / 150))
            assert remedy.lr_factor(epoch * SPE + 70, horizon(epochs=6)) == pytest.approx(expected)

    def test_from_zero_as_their_dialog_and_yelp_scripts(self):
        remedy = registry.parse("cyclical(start=0)")  # a cycle of 200 steps, ramp 100
        values = {step: remedy.kl_weight(step, horizon()) for step in (0, 49, 98, 99, 199, 200)}
        assert values == pytest.approx({0: 0.01, 49: 0.5, 98: 0.99, 99: 1.0, 199: 1.0, 200: 0.01})

    @pytest.mark.parametrize("cycles,ratio,start", [(4, 0.5, 0.0), (4, 0.5, 0.1), (2, 0.25, 0.0)])
    def test_frange_ramps_from_start_at_a_cycles_first_step_to_1_at_ratio(self, cycles, ratio, start):
        """Their README's frange_cycle_linear: start + (1 - start) min(1, (t mod P) / (R P))."""
        remedy = registry.parse(f"cyclical(ramp=frange,cycles={cycles},ratio={ratio},start={start})")
        period = 8 * SPE / cycles
        expected = [start + (1 - start) * min(1.0, (step % period) / (ratio * period))
                    for step in range(8 * SPE)]
        ours = [remedy.kl_weight(step, horizon()) for step in range(8 * SPE)]
        assert ours == pytest.approx(expected, abs=1e-12)

    def test_frange_known_values(self):
        remedy = registry.parse("cyclical(ramp=frange,start=0)")  # period 200 steps, ramp over 100
        values = {step: remedy.kl_weight(step, horizon()) for step in (0, 50, 100, 199, 200, 250, 799)}
        assert values == pytest.approx({0: 0.0, 50: 0.5, 100: 1.0, 199: 1.0, 200: 0.0, 250: 0.5,
                                        799: 1.0})

    def test_the_cycles_divide_the_horizon_they_are_given(self):
        remedy = registry.parse("cyclical(ramp=frange,start=0)")
        assert remedy.kl_weight(50, horizon(epochs=4)) == pytest.approx(1.0)
        assert remedy.kl_weight(50, horizon(epochs=8)) == pytest.approx(0.5)

    @pytest.mark.parametrize("step", [0, 50, 100, 150, 200, 330])
    def test_lr_every_step_is_a_per_step_cosine(self, step):
        expected = 0.5 * (1 + math.cos(math.pi * (step % 200) / 200))
        assert registry.parse("cyclical(lr_every=step)").lr_factor(step, horizon()) == pytest.approx(expected)

    @pytest.mark.parametrize("spec", ["cyclical(lr_restart=false)",
                                      "cyclical(lr_restart=false,lr_every=step)"])
    @pytest.mark.parametrize("step", [0, 50, 170])
    def test_lr_restart_can_be_turned_off(self, spec, step):
        assert registry.parse(spec).lr_factor(step, horizon()) == 1.0

    def test_the_earlier_default_is_frange_with_a_per_step_cosine(self):
        remedy = registry.parse("cyclical(ramp=frange,lr_every=step)")
        assert remedy.kl_weight(0, horizon()) == pytest.approx(0.1)
        assert remedy.kl_weight(50, horizon()) == pytest.approx(0.55)
        assert remedy.lr_factor(50, horizon()) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))

    @pytest.mark.parametrize("spec,words", [
        ("cyclical(ramp=cosine)", "ramp must be one of scripts, frange"),
        ("cyclical(lr_every=batch)", "lr_every must be one of epoch, step"),
    ])
    def test_unknown_choices_are_refused(self, spec, words):
        with pytest.raises(ConfigError, match=re.escape(words)):
            registry.parse(spec)


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
