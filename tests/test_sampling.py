"""Decoding from z with tiny untrained models: shapes, determinism, `</s>`, the homotopy's ends, the CLI."""

import pytest
import torch
from click.testing import CliRunner
from torch import Tensor, nn

from bench import store
from bench.cli import cli
from bench.config import ModelConfig, build_config
from bench.data.batching import collate
from bench.data.vocab import BOS, EOS, PAD
from bench.errors import ConfigError
from bench.models import build_model
from bench.sampling import decode, encode_sentences, homotopy, load_run, prior_codes

VOCAB = 20


def small_model(decoder: str = "lstm"):
    cfg = ModelConfig(nz=2, emb=8, enc_hidden=10, dec_hidden=12, dropout_in=0.0, dropout_out=0.0,
                      decoder=decoder, cnn_dilations=(1, 2), cnn_channels=12)
    torch.manual_seed(0)
    return build_model(VOCAB, cfg).eval()


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("decoder", ["lstm", "cnn"])
class TestDecode:
    def test_one_sentence_per_code_within_the_length_limit(self, decoder):
        model = small_model(decoder)
        sentences = decode(model, prior_codes(model, 6, seeded(0)), max_words=7)
        assert len(sentences) == 6
        for sentence in sentences:
            assert len(sentence) <= 7 and all(0 <= t < VOCAB and t not in (PAD, BOS, EOS) for t in sentence)

    def test_greedy_is_deterministic_and_sampling_follows_the_seed(self, decoder):
        model = small_model(decoder)
        z = prior_codes(model, 4, seeded(1))
        assert decode(model, z, 6) == decode(model, z, 6)
        sample = [decode(model, z, 6, greedy=False, generator=seeded(3)) for _ in range(2)]
        assert sample[0] == sample[1]

    def test_greedy_prefix_decoding_agrees_with_teacher_forcing(self, decoder):
        # Re-running the decoder on the growing prefix must pick each token the decoder, fed the
        # finished sentence at once, ranks first at that position (causality of both decoders).
        model = small_model(decoder)
        z = prior_codes(model, 3, seeded(2))
        for row, sentence in enumerate(decode(model, z, 6)):
            inputs = torch.tensor([[BOS, *sentence]])
            with torch.no_grad():
                logits = model.decoder(inputs, z[row].view(1, 1, -1))[0]
            logits[:, [PAD, BOS]] = -torch.inf
            picked = logits.argmax(dim=-1).tolist()
            assert picked[: len(sentence)] == sentence
            if len(sentence) < 6:
                assert picked[len(sentence)] == EOS


class ScriptedDecoder(nn.Module):
    """Says 5, 6 and then `</s>` when z > 0; says 7 forever when z <= 0."""

    def forward(self, inputs: Tensor, z: Tensor) -> Tensor:
        batch, steps = inputs.shape
        logits = torch.zeros(batch, steps, VOCAB)
        for row in range(batch):
            for t in range(steps):
                token = (5, 6, EOS)[min(t, 2)] if z[row, 0, 0] > 0 else 7
                logits[row, t, token] = 10.0
        return logits


def test_decoding_stops_at_end_of_sentence_or_at_the_limit():
    model = small_model()
    model.decoder = ScriptedDecoder()
    assert decode(model, torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), max_words=4) == [[5, 6], [7, 7, 7, 7]]


def test_temperature_must_be_positive():
    with pytest.raises(ConfigError, match="temperature"):
        decode(small_model(), torch.zeros(1, 2), 3, greedy=False, temperature=0.0)


class TestHomotopy:
    def test_ends_are_the_two_codes_and_steps_are_even(self):
        start, end = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 2.0])
        line = homotopy(start, end, 5)
        assert torch.equal(line[0], start) and torch.equal(line[-1], end)
        torch.testing.assert_close(line[2], (start + end) / 2)

    def test_ends_decode_to_the_reconstructions(self):
        from bench.data.vocab import Vocab

        model = small_model()
        vocab = Vocab.from_list(["<pad>", "<s>", "</s>", "<unk>", *(f"w{i}" for i in range(VOCAB - 4))])
        mu, unknown = encode_sentences(model, vocab, ["w1 w2 w3", "w4 w5 nope"])
        assert unknown == [0, 1]
        expected, _ = model.encode(collate([[5, 6, 7], [8, 9, 3]], [0, 1]))
        torch.testing.assert_close(mu, expected)
        line = decode(model, homotopy(mu[0], mu[1], 4), 6)
        assert line[0] == decode(model, mu[:1], 6)[0] and line[-1] == decode(model, mu[1:], 6)[0]

    def test_fewer_than_two_steps_is_an_error(self):
        with pytest.raises(ConfigError, match="at least 2"):
            homotopy(torch.zeros(2), torch.ones(2), 1)


@pytest.fixture
def stored_run(tmp_path):
    """A run folder with an untrained model on a small synthetic corpus (no training needed)."""
    cfg = build_config("synthetic", "none", 0, {
        "data.synthetic_size": 100, "data.synthetic_vocab": 30, "model.emb": 8, "model.enc_hidden": 8,
        "model.dec_hidden": 8})
    folder = tmp_path / "runs" / cfg.run_id()
    store.write_json(folder / store.CONFIG, cfg.to_dict())
    store.save_torch(folder / store.MODEL, build_model(34, cfg.model).state_dict())
    return folder


def test_load_run_rebuilds_model_and_vocabulary(stored_run):
    run = load_run(stored_run)
    assert len(run.vocab) == 34 and run.max_words == 10 and not run.model.training


def test_a_run_without_model_is_a_config_error(stored_run):
    (stored_run / store.MODEL).unlink()
    with pytest.raises(ConfigError, match=r"no model\.pt"):
        load_run(stored_run)


def test_samples_command_prints_all_three_parts(stored_run):
    result = CliRunner().invoke(cli, [
        "samples", str(stored_run), "--n", "2", "--reconstruct", "w1 w2 w3",
        "--interpolate", "w1 w2", "w3 w4", "--steps", "3", "--sample", "--temperature", "0.7"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "from the prior" in out and "  1. " in out and "  2. " in out
    assert "in:  w1 w2 w3" in out and "out: " in out
    assert "t=0.00" in out and "t=0.50" in out and "t=1.00" in out


def test_interpolation_names_its_ends_without_notes_when_every_word_is_known(stored_run):
    result = CliRunner().invoke(cli, ["samples", str(stored_run), "--n", "0",
                                      "--interpolate", "w1 w2", "w3 w4", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "  z1 from: w1 w2\n" in result.output and "  z2 from: w3 w4\n" in result.output
    assert "not in the vocabulary" not in result.output and "warning" not in result.output


def test_interpolation_of_unseen_words_warns_instead_of_printing_identical_lines_silently(stored_run):
    """Words the run never saw are all <unk>: equal-length sentences encode to one z."""
    result = CliRunner().invoke(cli, ["samples", str(stored_run), "--n", "0",
                                      "--interpolate", "the food", "slow service", "--steps", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "z1 from: the food  (2 word(s) not in the vocabulary, read as <unk>)" in out
    assert "z2 from: slow service  (2 word(s) not in the vocabulary, read as <unk>)" in out
    assert "warning: both sentences encode to the same z" in out
    lines = [line.split(maxsplit=1)[1] for line in out.splitlines() if line.strip().startswith("t=")]
    assert len(lines) == 3 and len(set(lines)) == 1
