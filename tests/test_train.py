"""The trainer: encoder-only steps, precision and device options, failure recording."""

import copy
import json

import pytest
import torch

from bench.run import execute, plan_run, resolve_config

TINY = {"data.synthetic_size": 200, "train.epochs": 1, "eval.iw_samples": 5, "train.diag_every": 0}


def trainer_for(**overrides):
    from bench.train import Trainer

    cfg = resolve_config("synthetic", "none", 0, {**TINY, "model.dropout_in": 0.0, "model.dropout_out": 0.0,
                                                  **overrides})
    plan = plan_run(cfg)
    return Trainer(cfg, plan.corpus, plan.remedy)


def test_encoder_only_update_matches_a_full_backward_and_leaves_the_decoder_alone():
    # A large clip keeps clipping out of the comparison: the encoder-only step
    # clips its own gradient, where He et al.'s code also counts the decoder's.
    trainer = trainer_for(**{"train.clip": 1e9})
    reference = copy.deepcopy(trainer.model)
    batch = trainer.train_batches[0]

    torch.manual_seed(5)
    trainer.update(batch, encoder=True, decoder=False)
    assert all(p.grad is None for p in trainer.model.decoder.parameters()), "no decoder gradients computed"
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.decoder.parameters(),
                                                 reference.decoder.parameters(), strict=True))

    trainer.model.load_state_dict(reference.state_dict())
    trainer.enc_opt.zero_grad(set_to_none=True)
    torch.manual_seed(5)
    loss, _ = trainer.loss_on(batch)
    loss.backward()
    lr = trainer.cfg.train.lr
    expected = {name: p - lr * p.grad for name, p in trainer.model.encoder.named_parameters()}
    torch.manual_seed(5)
    trainer.model.load_state_dict(reference.state_dict())
    trainer.update(batch, encoder=True, decoder=False)
    for name, param in trainer.model.encoder.named_parameters():
        assert torch.allclose(param, expected[name], atol=1e-6), name


def test_parameters_are_trainable_again_after_a_frozen_step():
    trainer = trainer_for()
    trainer.update(trainer.train_batches[0], encoder=True, decoder=False)
    assert all(p.requires_grad for p in trainer.model.parameters())


def test_bf16_training_runs_and_is_recorded(tmp_path):
    cfg = resolve_config("synthetic", "none", 0, {**TINY, "train.precision": "bf16"})
    metrics = execute(plan_run(cfg), tmp_path, "t")
    assert metrics["status"] == "finished"
    assert metrics["precision"] == "bf16" and metrics["device"] == "cpu"
    assert all(value == value for value in (metrics["test"]["nll"], metrics["test"]["kl"]))


def test_bf16_evaluation_is_recorded_and_moves_the_metrics_little(tmp_path):
    """Same training (fp32, same seed), final metrics in fp32 and in bf16 autocast."""
    results = {}
    for precision in ("fp32", "bf16"):
        cfg = resolve_config("synthetic", "none", 0, {**TINY, "eval.precision": precision})
        results[precision] = execute(plan_run(cfg), tmp_path, "t")
        assert results[precision]["eval_precision"] == precision
        assert results[precision]["precision"] == "fp32"  # training steps keep their own setting
    fp32, bf16 = results["fp32"]["test"], results["bf16"]["test"]
    assert abs(bf16["nll"] - fp32["nll"]) < 0.005 * fp32["nll"]
    assert abs(bf16["kl"] - fp32["kl"]) < 0.01 and abs(bf16["mi"] - fp32["mi"]) < 0.01


def test_a_diverging_run_is_recorded_failed_with_its_reason(tmp_path):
    cfg = resolve_config("synthetic", "none", 0, {**TINY, "train.lr": 1e30, "train.clip": 1e30})
    metrics = execute(plan_run(cfg), tmp_path, "t")
    assert metrics["status"] == "failed"
    assert "non-finite loss" in metrics["reason"]
    stored = json.loads((tmp_path / "t" / "runs" / cfg.run_id() / "metrics.json").read_text())
    assert stored["status"] == "failed"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_run_keeps_everything_on_the_gpu(tmp_path):
    cfg = resolve_config("synthetic", "none", 0, {**TINY, "train.device": "cuda"})
    metrics = execute(plan_run(cfg), tmp_path, "t")
    assert metrics["status"] == "finished" and metrics["device"] == "cuda"


def test_cuda_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="no CUDA device"):
        plan_run(resolve_config("synthetic", "none", 0, {**TINY, "train.device": "cuda"}))
