"""The model: padding never changes a sentence's loss; shapes; initialisation."""

import pytest
import torch
from conftest import needs_bf16_lstm
from torch.profiler import ProfilerActivity, profile

from bench.config import ModelConfig
from bench.data.batching import collate
from bench.models import build_model, projection

SENTENCES = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]


def small_model(**changes):
    cfg = ModelConfig(nz=3, emb=8, enc_hidden=10, dec_hidden=12, dropout_in=0.0, dropout_out=0.0, **changes)
    torch.manual_seed(0)
    return build_model(20, cfg).eval()


def test_padded_batch_loss_equals_sum_of_unpadded_losses():
    model = small_model()
    padded = collate(SENTENCES, list(range(len(SENTENCES))))
    z = torch.randn(len(SENTENCES), 4, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        together = model.log_likelihood(padded, z)
        mu, logvar = model.encode(padded)
        for row, sentence in enumerate(SENTENCES):
            alone = collate([sentence], [row])
            assert torch.allclose(model.log_likelihood(alone, z[row : row + 1]), together[row : row + 1],
                                  atol=1e-5)
            mu_alone, logvar_alone = model.encode(alone)
            assert torch.allclose(mu_alone, mu[row : row + 1], atol=1e-6)
            assert torch.allclose(logvar_alone, logvar[row : row + 1], atol=1e-6)


def test_word_count_excludes_padding_and_counts_end_of_sentence():
    batch = collate(SENTENCES, [0, 1, 2])
    assert batch.n_words == sum(len(s) + 1 for s in SENTENCES)
    assert int(batch.mask.sum()) == batch.n_words


def test_log_likelihood_shape_is_sentences_by_samples():
    model = small_model()
    batch = collate(SENTENCES, [0, 1, 2])
    z = torch.zeros(3, 5, 3)
    assert model.log_likelihood(batch, z).shape == (3, 5)


def test_each_sample_is_scored_with_its_own_z():
    model = small_model()
    batch = collate(SENTENCES[:1], [0])
    z = torch.randn(1, 2, 3)
    both = model.log_likelihood(batch, z)
    first = model.log_likelihood(batch, z[:, :1])
    second = model.log_likelihood(batch, z[:, 1:])
    assert torch.allclose(both, torch.cat([first, second], dim=1), atol=1e-6)


@pytest.mark.parametrize("decoder", [pytest.param("lstm", marks=needs_bf16_lstm), "cnn"])
def test_output_layer_is_one_2d_product_under_bf16(decoder):
    """No batched product that would copy the vocabulary weight per sample (docs/history.md, stop 12)."""
    model = small_model(decoder=decoder, cnn_dilations=(1, 2), cnn_channels=6)
    batch = collate(SENTENCES, [0, 1, 2])
    z = torch.randn(3, 4, 3)
    with torch.inference_mode():  # as evaluation runs
        expected = model.log_likelihood(batch, z)
        with profile(activities=[ProfilerActivity.CPU]) as prof, torch.autocast("cpu", dtype=torch.bfloat16):
            got = model.log_likelihood(batch, z)
    assert "aten::bmm" not in {event.key for event in prof.key_averages()}
    assert torch.allclose(got, expected, rtol=0.05)


@pytest.mark.parametrize("changes", [{}, {"dec_skip": True}, {"decoder": "cnn", "cnn_dilations": (1, 2)}])
def test_scoring_in_blocks_equals_the_training_path(changes, monkeypatch):
    """Without gradients the output layer runs in blocks over real cells only: the same log p(x|z)."""
    monkeypatch.setattr(projection, "BLOCK_LOGITS", 3 * 20)  # 16-row blocks at 20 words: several per call
    model = small_model(**changes)
    batch = collate(SENTENCES, [0, 1, 2])
    z = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(2))
    with torch.enable_grad():
        one_product = model.log_likelihood(batch, z).detach()
    with torch.inference_mode():
        in_blocks = model.log_likelihood(batch, z)
    assert torch.allclose(in_blocks, one_product, rtol=0, atol=1e-5)


def test_target_log_probs_are_log_softmax_at_the_target_and_zero_at_padding():
    out = torch.nn.Linear(4, 20, bias=False)
    hidden = torch.randn(2, 5, 4)
    targets = torch.tensor([[3, 7, 0, 0, 0], [1, 2, 3, 4, 19]])  # 0 is PAD
    with torch.no_grad():
        got = projection.target_log_probs(out, hidden, targets)
        expected = torch.log_softmax(out(hidden), dim=-1).gather(-1, targets[..., None]).squeeze(-1)
    assert torch.allclose(got, expected.masked_fill(targets == 0, 0.0), atol=1e-6)


def test_reference_initialisation_ranges():
    model = small_model()
    for name, param in model.named_parameters():
        bound = 0.1 if "embed" in name else 0.01
        assert float(param.detach().abs().max()) <= bound, name


def test_pytorch_initialisation_uses_layer_defaults_and_keeps_the_bn_scale():
    model = small_model(init="pytorch", bn_gamma=0.5)
    embedding = model.encoder.embed.weight.detach()
    assert float(embedding.std()) > 0.5  # N(0, 1), far outside the reference U(-0.1, 0.1)
    assert float(model.decoder.lstm.weight_hh_l0.detach().abs().max()) > 0.01
    assert torch.all(model.encoder.bn.weight == 0.5)


def test_bn_vae_fixes_the_scale_of_the_mean():
    model = small_model(bn_gamma=0.5)
    assert model.encoder.bn is not None
    assert not model.encoder.bn.weight.requires_grad
    assert torch.all(model.encoder.bn.weight == 0.5)
