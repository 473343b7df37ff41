"""He et al.'s posterior-mean quadrature against posteriors with a closed form."""

import pytest
import torch
from torch import Tensor, nn

from bench.data.batching import Batch, collate
from bench.diagnostics import model_posterior_mean, posterior_mean_points

CENTRES = torch.tensor([-3.0, -0.5, 0.0, 1.2, 4.0])


class GaussianLikelihood(nn.Module):
    """A stand-in VAE with log p(x_b|z) = -(z - c_b)^2 / (2 s^2): Gaussian in z for each sentence.

    With the prior N(0, 1), p(z|x_b) is N(c_b / (1 + s^2), s^2 / (1 + s^2)),
    so its mean is known exactly. `scale = None` makes the likelihood flat in
    z (a decoder that ignores z): the posterior is the prior, mean 0.
    """

    def __init__(self, scale: float | None) -> None:
        super().__init__()
        self.nz = 1
        self.scale = scale

    def log_likelihood(self, batch: Batch, z: Tensor) -> Tensor:
        if self.scale is None:
            return torch.zeros(z.shape[:2])
        centre = CENTRES[batch.index].view(-1, 1)
        return -0.5 * (z[..., 0] - centre) ** 2 / self.scale**2

    def encode(self, batch: Batch) -> tuple[Tensor, Tensor]:
        mu = 0.5 * CENTRES[batch.index].view(-1, 1)
        return mu, torch.zeros_like(mu)


def batch() -> Batch:
    return collate([[5, 6, 7]] * len(CENTRES), list(range(len(CENTRES))))


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_quadrature_matches_the_closed_form_gaussian_posterior_mean(scale):
    expected = CENTRES / (1 + scale**2)
    torch.testing.assert_close(model_posterior_mean(GaussianLikelihood(scale), batch()), expected,
                               atol=1e-4, rtol=0)


def test_a_decoder_that_ignores_z_has_the_prior_as_posterior():
    mean = model_posterior_mean(GaussianLikelihood(None), batch())
    torch.testing.assert_close(mean, torch.zeros(len(CENTRES)), atol=1e-4, rtol=0)


def test_points_pair_each_sentence_with_both_means():
    model = GaussianLikelihood(1.0).train()
    points = posterior_mean_points(model, [batch()], torch.device("cpu"))
    torch.testing.assert_close(points["encoder_mean"], 0.5 * CENTRES)
    torch.testing.assert_close(points["model_mean"], CENTRES / 2, atol=1e-4, rtol=0)
    assert points["sentence"].tolist() == list(range(len(CENTRES)))
    assert model.training, "the model's mode is restored"


def test_needs_a_scalar_latent():
    model = GaussianLikelihood(1.0)
    model.nz = 2
    with pytest.raises(ValueError, match="nz = 1"):
        model_posterior_mean(model, batch())
