"""The trainer: one-half updates by the authors' rule, precision and device options, failure recording."""

import collections
import copy
import itertools
import json

import pytest
import torch
from conftest import needs_bf16_lstm

from bench import hardware
from bench.config import RunConfig
from bench.errors import ConfigError
from bench.single_run import execute, plan_run, resolve

TINY = {"data.synthetic_size": 200, "train.epochs": 1, "eval.iw_samples": 5, "train.diag_every": 0}


def trainer_for(**overrides):
    from bench.train import Trainer

    run = resolve("synthetic", "none", 0, {**TINY, "model.dropout_in": 0.0, "model.dropout_out": 0.0,
                                                  **overrides})
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


def authors_update(trainer, batch, stepped: str) -> dict[str, torch.Tensor]:
    """He et al.'s rule written out: full backward, joint-norm clip, then SGD on one half only."""
    model = trainer.model
    model.zero_grad(set_to_none=True)
    loss, _ = trainer.loss_on(batch)
    loss.mean().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    joint = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))
    scale = min(1.0, trainer.cfg.train.clip / (float(joint) + 1e-6))
    lr = trainer.cfg.train.lr
    return {name: (p - lr * scale * grads[name] if name.startswith(stepped) else p).detach().clone()
            for name, p in model.named_parameters()}


def gradient_norm(module: torch.nn.Module) -> float:
    return float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(p.grad) for p in module.parameters() if p.grad is not None])))


@pytest.mark.parametrize(("encoder", "decoder", "stepped"), [(True, False, "encoder."),
                                                            (False, True, "decoder.")])
def test_one_half_update_equals_the_authors_rule_when_the_joint_norm_is_clipped(encoder, decoder, stepped):
    # From the same state and batch, the parameters after an encoder-only (or
    # decoder-only) step must equal jxhe/vae-lagging-encoder's: the clip sees
    # both halves' gradient. The joint norm at the reference init is ~0.07, so
    # clip 0.02 binds; the decoder's gradient dominates it, so clipping the stepped
    # half alone would give a different update (checked below).
    trainer = trainer_for(**{"train.clip": 0.02})
    start = copy.deepcopy(trainer.model.state_dict())
    batch = trainer.train_batches[0]

    torch.manual_seed(5)
    expected = authors_update(trainer, batch, stepped)
    half = trainer.model.encoder if encoder else trainer.model.decoder
    assert gradient_norm(trainer.model) > trainer.cfg.train.clip, "the joint norm must be clipped"
    if encoder:  # the decoder dominates the joint norm, so the encoder alone would clip far less
        assert gradient_norm(half) / gradient_norm(trainer.model) < 0.9

    trainer.model.load_state_dict(start)
    torch.manual_seed(5)
    trainer.update(batch, encoder=encoder, decoder=decoder)
    for name, param in trainer.model.named_parameters():
        torch.testing.assert_close(param.detach(), expected[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("setting", ["train.precision", "eval.precision"])
def test_bf16_on_a_cpu_without_a_bf16_lstm_is_refused_before_any_work(monkeypatch, setting):
    monkeypatch.setattr(hardware, "cpu_runs_bf16_lstm", lambda: False)
    with pytest.raises(ConfigError, match="bf16 needs an LSTM in bf16, which this CPU cannot run") as refused:
        plan_run(resolve("synthetic", "none", 0, {**TINY, setting: "bf16"}))
    assert "\n" not in str(refused.value)
    plan_run(resolve("synthetic", "none", 0, TINY))  # fp32 runs anywhere


@needs_bf16_lstm
def test_bf16_training_runs_and_is_recorded(tmp_path):
    run = resolve("synthetic", "none", 0, {**TINY, "train.precision": "bf16"})
    metrics = execute(plan_run(run), tmp_path, "t")
    assert metrics["status"] == "finished"
    assert metrics["precision"] == "bf16" and metrics["device"] == "cpu"
    assert all(value == value for value in (metrics["test"]["nll"], metrics["test"]["kl"]))


@needs_bf16_lstm
def test_bf16_evaluation_is_recorded_and_moves_the_metrics_little(tmp_path):
    """Same training (fp32, same seed), final metrics in fp32 and in bf16 autocast."""
    results = {}
    for precision in ("fp32", "bf16"):
        run = resolve("synthetic", "none", 0, {**TINY, "eval.precision": precision})
        results[precision] = execute(plan_run(run), tmp_path, "t")
        assert results[precision]["eval_precision"] == precision
        assert results[precision]["precision"] == "fp32"  # training steps keep their own setting
    fp32, bf16 = results["fp32"]["test"], results["bf16"]["test"]
    assert abs(bf16["nll"] - fp32["nll"]) < 0.005 * fp32["nll"]
    assert abs(bf16["kl"] - fp32["kl"]) < 0.01 and abs(bf16["mi"] - fp32["mi"]) < 0.01


def test_a_diverging_run_is_recorded_failed_with_its_reason(tmp_path):
    run = resolve("synthetic", "none", 0, {**TINY, "train.lr": 1e30, "train.clip": 1e30})
    metrics = execute(plan_run(run), tmp_path, "t")
    assert metrics["status"] == "failed"
    assert "non-finite loss" in metrics["reason"]
    stored = json.loads((tmp_path / "t" / "runs" / run.run_id() / "metrics.json").read_text())
    assert stored["status"] == "failed"


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_a_run_keeps_every_model_call_on_its_device(device, tmp_path, monkeypatch):
    """Training steps, validation and the final metrics call the model with its weights, the batch, z and
    the decoder inputs all on train.device. The cpu case shows that the spies see those calls."""
    from bench.models.vae import SentenceVAE

    calls = collections.Counter()
    encode, log_likelihood = SentenceVAE.encode, SentenceVAE.log_likelihood

    def on_device(model, call, *tensors):
        devices = {t.device.type for t in (*tensors, *model.parameters()) if t is not None}
        assert devices == {device}, f"{call} on {devices}"
        calls[call, "training" if model.training else "evaluation"] += 1

    def spied_encode(self, batch):
        on_device(self, "encode", batch.tokens, batch.lengths)
        return encode(self, batch)

    def spied_log_likelihood(self, batch, z, inputs=None):
        on_device(self, "log_likelihood", batch.tokens, z, inputs)
        return log_likelihood(self, batch, z, inputs)

    monkeypatch.setattr(SentenceVAE, "encode", spied_encode)
    monkeypatch.setattr(SentenceVAE, "log_likelihood", spied_log_likelihood)
    run = resolve("synthetic", "word-dropout", 0, {**TINY, "train.device": device})  # decoder inputs too
    metrics = execute(plan_run(run), tmp_path, "t")
    assert metrics["status"] == "finished", metrics.get("reason")  # a failed check fails the run
    assert metrics["device"] == device
    assert set(calls) == {(call, mode) for call in ("encode", "log_likelihood")
                          for mode in ("training", "evaluation")}


def test_cuda_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="no CUDA device"):
        plan_run(resolve("synthetic", "none", 0, {**TINY, "train.device": "cuda"}))


def test_a_halving_resets_the_decay_bar_but_not_the_checkpoint():
    # He et al.'s text.py keeps two bars: after a halving, an epoch better than
    # the halving epoch but worse than the best must not replace the checkpoint.
    trainer = trainer_for(**{"train.decay_after_epoch": 0, "train.decay_patience": 2})
    losses = iter([5.0, 4.0, 4.5, 4.6, 4.55, 4.7, 4.8])
    trainer.evaluate_split = lambda: {"loss": next(losses), "kl": 0.0, "mi": 0.0, "mi_batch": 0.0, "au": 0.0}
    for epoch in range(7):
        trainer.epoch = epoch
        trainer.end_of_epoch()
    state = trainer.protocol
    assert state.best_epoch == 1 and state.best_loss == 4.0
    assert state.decays == 2  # after epochs 3 (4.5, 4.6 > 4.0) and 6 (4.7, 4.8 > 4.55)
    assert state.lr == trainer.cfg.train.lr * 0.25


def test_the_stop_rules_batch_mi_is_drawn_afresh_each_epoch_and_repeats_on_resume():
    # He et al.'s per-batch MI samples from the global stream, so on a
    # collapsed encoder (every posterior the prior: nothing changes between
    # epochs) it scatters around 0 and their stop rule ends aggressive mode.
    # A draw fixed by the seed alone would repeat and keep aggressive going.
    trainer = trainer_for()
    with torch.no_grad():
        for p in trainer.model.encoder.parameters():
            p.zero_()
    estimates = []
    for epoch in range(4):
        trainer.epoch = epoch
        estimates.append(trainer.evaluate_split()["mi_batch"])
    assert len(set(estimates)) == 4, estimates
    assert any(later < earlier for earlier, later in itertools.pairwise(estimates))
    twin = trainer_for()
    twin.model.load_state_dict(trainer.model.state_dict())
    twin.epoch = 3
    assert twin.evaluate_split()["mi_batch"] == estimates[3]  # keyed by (seed, epoch): a resume redraws it


def test_config_json_records_the_remedy_beside_the_config_and_the_id_hashes_the_config_alone(tmp_path):
    run = resolve("synthetic", "bn-vae(gamma=0.3)+word-dropout", 0, TINY)
    assert execute(plan_run(run), tmp_path, "t")["status"] == "finished"
    stored = json.loads((tmp_path / "t" / "runs" / run.run_id() / "config.json").read_text())
    record = stored.pop("remedy_resolved")
    assert record == {
        "parts": [{"name": "bn-vae", "params": {"authors_init": True, "gamma": 0.3}, "neutral": {}},
                  {"name": "word-dropout", "params": {"keep": 0.5}, "neutral": {"keep": 1.0}}],
        "settings": {"model.bn_gamma": 0.3, "model.init": "pytorch-encoder", "train.decay_patience": 5},
    }
    assert stored == json.loads(json.dumps(run.config.to_dict()))  # what the run id hashes, as before
    assert RunConfig.from_dict({**stored, "remedy_resolved": record}).run_id() == run.run_id()


def test_every_update_counts_as_a_gradient_step_and_the_count_survives_a_checkpoint():
    trainer = trainer_for()
    batch = trainer.random_train_batch()
    trainer.update(batch)
    trainer.update(batch, decoder=False)  # an encoder-only step (aggressive training) counts too
    assert trainer.gradient_steps == 2
    twin = trainer_for()
    twin.load_state_dict(trainer.state_dict())
    assert twin.gradient_steps == 2
    older = {key: value for key, value in trainer.state_dict().items() if key != "gradient_steps"}
    twin.load_state_dict(older)  # a checkpoint from before the count: unknown, not restarted from 0
    twin.update(batch)
    assert twin.gradient_steps is None
