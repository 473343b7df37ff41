"""The training loss's token NLL equals cross-entropy's values and gradients bit for bit."""

import pytest
import torch
from torch.nn import functional as F

from bench.data.vocab import PAD
from bench.models import token_loss, vae
from bench.single_run import plan_run, resolve


def cross_entropy(logits, targets, scratch):
    """What token_nll replaces."""
    return F.cross_entropy(logits, targets, ignore_index=PAD, reduction="none")


def loss_and_grad(loss, logits, targets, weights, scratch):
    logits = logits.clone().requires_grad_()
    nll = loss(logits, targets, scratch)
    (nll * weights).sum().backward()
    return nll.detach(), logits.grad


@pytest.mark.parametrize("rows", [7, 40, 3])  # grows the scratch, then reuses part of it
def test_values_and_gradients_equal_cross_entropys_bit_for_bit_with_padding(rows):
    generator = torch.Generator().manual_seed(rows)
    logits = 4 * torch.randn(rows, 50, generator=generator)
    targets = torch.randint(1, 50, (rows,), generator=generator)
    targets[::3] = PAD
    weights = torch.rand(rows, generator=generator)  # per-sentence weights, as KL-weighted losses give
    scratch = token_loss.ZeroScratch()
    scratch.zeros(torch.empty(20, 50))  # an earlier, smaller step's buffer: grown, then part of it reused

    expected = loss_and_grad(cross_entropy, logits, targets, weights, scratch)
    got = loss_and_grad(token_loss.token_nll, logits, targets, weights, scratch)

    assert torch.equal(got[0], expected[0])
    assert torch.equal(got[1], expected[1])
    assert torch.count_nonzero(scratch.flat) == 0, "the scratch must be left zero for the next step"


@pytest.mark.parametrize("remedy", ["none", "aggressive"])
def test_training_steps_give_the_same_parameters_bit_for_bit_as_with_cross_entropy(remedy, monkeypatch):
    # Whole steps, dropout and (aggressive) the encoder-only inner steps with their joint clip included.
    from bench.train import Trainer

    def train(loss):
        monkeypatch.setattr(vae, "token_nll", loss)
        run = resolve("synthetic", remedy, 0, {"data.synthetic_size": 200, "train.epochs": 1,
                                               "train.diag_every": 0})
        torch.manual_seed(0)
        trainer = Trainer(run.config, plan_run(run).corpus, run.remedy)
        for batch in trainer.train_batches[:4]:
            trainer.run_step(batch)
        return trainer.model.state_dict()

    expected, got = train(cross_entropy), train(token_loss.token_nll)
    assert all(torch.equal(got[name], expected[name]) for name in expected)
