"""What the remedies are for: on tiny synthetic data, the plain VAE collapses and remedies do not.

Two settings, both He et al.'s synthetic corpus (a random LSTM driven by a
2-d latent), vocabulary 100, nz = 2, emb/hidden 50, He et al.'s SGD
protocol (lr 1, clip 5), sentences of 10 tokens. They differ in how the
weights start (`model.init`), which decides what a remedy can act on:

- HE: the reference initialisation U(-0.01, 0.01), 400 training sentences,
  one epoch. The encoder's mean is nearly constant and learns only from
  many encoder steps: the plain VAE collapses and aggressive training
  escapes. A KL schedule has nothing to act on here: even a KL weight of 0
  leaves MI at 0 (the reference-init case).
- TORCH: PyTorch's per-layer initialisation, 3,200 training sentences,
  6 epochs. The encoder encodes when the KL weight is low, so the story is
  Bowman's and Fu's: the plain VAE still collapses, and KL annealing (linear
  from 0.1 and logistic from 0, both reaching 1 at epoch 3 and held there),
  cyclical annealing (4 cycles, ratio 0.5) and word dropout (keep 0.5) all
  end with KL and MI well above 0. (Aggressive escapes under this
  initialisation too, KL 1.39-1.77 on seeds 0-4 at 2,000 sentences, but its
  inner loop makes such runs slow: HE tests it.)

"Collapsed" is KL < 0.05 and MI < 0.05 nats; "escaped" is KL > 0.3 and
MI > 0.3 (test split, whole-set MI; the best checkpoint by validation
-ELBO at KL weight 1, as reported). Seeds 0-4 were tried for every case:
every one held (TORCH, measured: none KL <= 0.013, MI <= 0.005; the
escaping remedies KL >= 0.49, MI >= 0.47). Seed 0 runs by default; seeds
1-4 are `slow`.
"""

import math
from pathlib import Path

import pytest
import torch
from conftest import needs_bf16_lstm

from bench.single_run import execute, plan_run, resolve

# One torch thread: these tiny models are bound by per-call overhead, and tests share cores.
COMMON = {"data.synthetic_vocab": 100, "eval.iw_samples": 10, "train.diag_every": 0,
          "train.threads": 1}
HE = {**COMMON, "data.synthetic_size": 500, "train.epochs": 1}
TORCH = {**COMMON, "data.synthetic_size": 4000, "train.epochs": 6, "model.init": "pytorch"}
SETTINGS = {"he": HE, "torch": TORCH, "reference-init": {**TORCH, "model.init": "reference"}}

CASES = [
    ("none", "he", "collapsed"),
    ("aggressive", "he", "escaped"),
    ("beta(beta=0)", "reference-init", "uninformative"),
    ("none", "torch", "collapsed"),
    ("kl-annealing(epochs=3)", "torch", "escaped"),
    ("kl-annealing(shape=logistic,start=0,epochs=3)", "torch", "escaped"),
    ("cyclical", "torch", "escaped"),
    ("word-dropout", "torch", "escaped"),
]
SEEDS = [0, *(pytest.param(seed, marks=pytest.mark.slow) for seed in (1, 2, 3, 4))]
# What each outcome asserts of the test metrics; an outcome not named here fails its test (KeyError).
OUTCOMES = {
    "collapsed": lambda test: test["kl"] < 0.05 and test["mi"] < 0.05,
    "uninformative": lambda test: test["mi"] < 0.05 and test["au"] == 0,  # KL may go to the variance
    "escaped": lambda test: test["kl"] > 0.3 and test["mi"] > 0.3,
}


@pytest.fixture(autouse=True)
def restore_threads():
    """`train.threads` sets torch's process-wide thread count; give it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def final_metrics(remedy: str, setting: dict, seed: int, out: Path) -> dict:
    metrics = execute(plan_run(resolve("synthetic", remedy, seed, setting)), out, "behaviour")
    assert metrics["status"] == "finished", metrics.get("reason")
    return metrics["test"]


def test_every_case_names_an_outcome_that_is_checked():
    assert {outcome for *_, outcome in CASES} <= OUTCOMES.keys()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("remedy,setting,outcome", CASES, ids=[f"{r}-{s}" for r, s, _ in CASES])
def test_outcome(remedy, setting, outcome, seed, tmp_path):
    test = final_metrics(remedy, SETTINGS[setting], seed, tmp_path)
    assert all(math.isfinite(test[key]) for key in ("nll", "kl", "mi"))
    assert OUTCOMES[outcome](test), test


@needs_bf16_lstm
@pytest.mark.parametrize(("remedy", "outcome"), [("none", "collapsed"), ("aggressive", "escaped")])
def test_bf16_training_keeps_the_findings(remedy, outcome, tmp_path):
    """Training under bf16 autocast: the plain VAE still collapses, aggressive still escapes.

    Seeds 0-4 tried: none KL 0.000 on all; aggressive KL 1.26-1.89, MI 0.95-1.24.
    """
    test = final_metrics(remedy, {**HE, "train.precision": "bf16"}, 0, tmp_path)
    assert OUTCOMES[outcome](test), test
