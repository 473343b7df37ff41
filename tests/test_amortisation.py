"""The amortisation gap (bench/amortisation.py): optimised q beats the encoder's, and measuring it
changes no training update."""

import torch

from bench.amortisation import amortisation_gap
from bench.config import RunConfig
from bench.single_run import plan_run, resolve
from bench.train import Trainer

TINY = {"data.synthetic_size": 200, "data.synthetic_vocab": 30, "data.synthetic_length": 5, "model.emb": 8,
        "model.enc_hidden": 8, "model.dec_hidden": 8, "train.epochs": 2, "train.batch_size": 8,
        "train.diag_every": 0, "eval.iw_samples": 2, "train.threads": 1}
CPU = torch.device("cpu")


def trainer_for(**overrides) -> Trainer:
    run = resolve("synthetic", "none", 0, {**TINY, **overrides})
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


def test_the_optimised_elbo_is_at_least_the_encoders_on_the_same_draws():
    trainer = trainer_for(**{"model.init": "pytorch"})  # a decoder that reads z, an encoder that guesses
    sentences = trainer.corpus.splits["valid"][:8]
    gap = amortisation_gap(trainer.model, sentences, steps=20, samples=4, lr=0.05, seed=3, device=CPU,
                           cells=256)
    assert gap.per_sentence.shape == (8,)
    assert float(gap.per_sentence.min()) >= 0.0
    assert float(gap.per_sentence.mean()) > 0.01
    assert gap.record()["amortisation_gap"] == float(gap.per_sentence.mean())


def test_no_gap_when_the_encoder_gives_the_prior_and_the_decoder_ignores_z():
    trainer = trainer_for()
    model = trainer.model
    with torch.no_grad():
        model.encoder.to_gaussian.weight.zero_()  # q(z|x) = N(0, I) for every sentence
        model.decoder.z_to_c.weight.zero_()
        model.decoder.lstm.weight_ih_l0[:, -model.nz:].zero_()  # the z half of the LSTM input
    gap = amortisation_gap(model, trainer.corpus.splits["valid"][:6], steps=20, samples=2, lr=0.1, seed=0,
                           device=CPU, cells=256)
    assert torch.equal(gap.per_sentence, torch.zeros(6))


def test_measuring_leaves_the_model_its_mode_and_gradients():
    trainer = trainer_for(**{"model.init": "pytorch"})
    trainer.model.train()
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    amortisation_gap(trainer.model, trainer.corpus.splits["valid"][:4], steps=3, samples=2, lr=0.1, seed=0,
                     device=CPU, cells=256)
    assert trainer.model.training
    for name, param in trainer.model.named_parameters():
        assert param.grad is None, name
        assert torch.equal(param.detach(), before[name]), name


def test_a_run_measuring_the_gap_trains_bit_identically_and_records_it_per_epoch():
    torch.manual_seed(123)  # the global stream as a previous test may leave it: each trainer reseeds
    plain = trainer_for(**{"model.init": "pytorch"})
    plain.fit()
    measured = trainer_for(**{"model.init": "pytorch", "train.gap_sentences": 10, "train.gap_steps": 5})
    measured.fit()
    for name, value in plain.model.state_dict().items():
        assert torch.equal(value, measured.model.state_dict()[name]), name
    losses = [[row["loss"] for row in trainer.protocol.history] for trainer in (plain, measured)]
    assert losses[0] == losses[1]
    assert all("amortisation_gap" not in row for row in plain.protocol.history)
    gaps = [row["amortisation_gap"] for row in measured.protocol.history]
    assert len(gaps) == 2 and all(gap >= 0 for gap in gaps)


def test_the_gap_settings_leave_existing_run_ids_alone():
    train = RunConfig().to_dict()["train"]
    assert not [key for key in train if key.startswith("gap_")]
    on = resolve("synthetic", "none", 0, {**TINY, "train.gap_sentences": 10})
    off = resolve("synthetic", "none", 0, TINY)
    assert on.run_id() != off.run_id() and on.config.to_dict()["train"]["gap_sentences"] == 10
