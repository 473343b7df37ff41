"""The plugin's own tests: collapse-bench's plugin kit (`bench.kit`), then the formula it changes.

They run before `pip install` as well: the class is registered for the
checks by name, as the entry point would register it.
"""

import pytest
import torch
from collapse_bench_example_plugin import KLThreshold

from bench.errors import ConfigError
from bench.kit import check_remedy
from remedies import registry


def test_obeys_the_remedy_contract():
    check_remedy(KLThreshold, name="kl-threshold")


def test_obeys_it_with_parameters_too():
    with registry.registered("kl-threshold", KLThreshold):
        check_remedy("kl-threshold(target=0.0)+kl-annealing(epochs=2)")


def test_a_sentence_below_the_target_costs_nothing():
    kl_per_dim = torch.tensor([[0.2, 0.3], [1.0, 2.0]])  # sentence KLs 0.5 and 3.0
    assert KLThreshold(target=1.0).kl_term(kl_per_dim).tolist() == [0.0, 3.0]
    assert KLThreshold(target=0.0).kl_term(kl_per_dim).tolist() == [0.5, 3.0]


def test_a_negative_target_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="target must be >= 0, got -1"):
        KLThreshold(target=-1)
