"""The plain VAE: the baseline every remedy is compared against."""

from remedies.base import Remedy
from remedies.registry import register


@register("none")
class NoRemedy(Remedy):
    """Plain VAE training with the full KL term from step 0 (Bowman et al. 2016, arXiv:1511.06349).

    With an LSTM decoder this is the setting that collapses: KL, MI and AU go to 0.
    """

    paper = "Bowman et al. 2016, arXiv:1511.06349 (baseline)"
