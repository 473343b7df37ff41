"""Step for step: the harness's updates against the authors' own code.

    python benchmarks/step_check.py --repo ~/src/vae-lagging-encoder \\
        --bn-vae-repo ~/src/bn-vae --cyclical-repo ~/src/cyclical_annealing

Each option runs one check against a local checkout that the user fetches
(nothing of it is part of this project); give one or more. Every check
trains both sides through the same random batches of one sentence length,
the same dropout masks and the same posterior noise, so any difference in
the losses or the weights is a difference in what is computed. Each prints
its largest differences; the script exits 1 unless every check agrees to
float32 rounding.

- `--repo`, He et al. 2019 (jxhe/vae-lagging-encoder): their VAE and the
  harness's model with the same weights, through rounds of encoder-only
  steps followed by one decoder-only step, as in aggressive training. The
  harness side is `Trainer.update`; theirs is their `VAE.loss` with the
  step rule of their `text.py` loop (both halves' gradient, joint norm
  clipped, one SGD optimiser steps).
- `--bn-vae-repo`, Zhu et al. 2020 (valdersoul/bn-vae): their VAE with
  BatchNorm on the posterior mean (scale frozen at gamma, learnable shift)
  against a harness `bn-vae` run. The learnable weights are theirs on both
  sides; the frozen scale each side sets itself. Their `VAE.loss` with the
  step rule of their `text_anneal_fb.py` (KL weight 1, their default; both
  optimisers step) against `Trainer.run_step`, the BatchNorm running
  statistics compared with the weights; then the posterior in evaluation
  mode, which reads those statistics.
- `--cyclical-repo`, Fu et al. 2019 (haofuml/cyclical_annealing): their
  language-model script `language_model/train_text_cyc_ptb.py` runs its
  default 40 epochs on stand-in batches, as many per epoch as the
  harness's, and the KL weight and learning rate of its every step are
  recorded; they are compared with the default `cyclical` remedy's over the
  same horizon (their 40 epochs: its 4 cycles are their 10-epoch ones).
  Then steps under each: `Trainer.run_step` against their step
  rule (one Adam, joint clip, nll + beta x their `kl_loss_diag`) at their
  recorded weight and rate. Their model is not the harness's
  (docs/fidelity.md), so both sides train the harness's: what is compared
  is the schedule and the update it weights.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.data.batching import Batch, collate  # noqa: E402  (the checkout's package, not an installed one)
from bench.single_run import plan_run, resolve  # noqa: E402
from bench.train import Trainer  # noqa: E402
from benchmarks.authors_code import as_in_their_day, imported_from, shared_noise  # noqa: E402

SIZE, NZ, BATCH = 50, 2, 16  # every check's model width, latent size and batch size
LOSS_TOLERANCE, WEIGHT_TOLERANCE = 1e-4, 1e-6  # float32 rounding, no more
SCHEDULE_TOLERANCE = 1e-9  # both schedules are computed in float64

# harness parameter name prefix -> the authors' (He et al.'s modules/encoders/enc_lstm.py,
# modules/decoders/dec_lstm.py; BN-VAE's are a fork of them, with `mu_bn`)
NAMES = {"encoder.embed": "encoder.embed", "encoder.lstm": "encoder.lstm",
         "encoder.to_gaussian": "encoder.linear", "encoder.bn": "encoder.mu_bn",
         "decoder.embed": "decoder.embed", "decoder.lstm": "decoder.lstm",
         "decoder.z_to_c": "decoder.trans_linear", "decoder.out": "decoder.pred_linear"}

Step = Callable[[int, Batch], Tensor]  # (step index, batch) -> the loss the step took


def authors_name(name: str) -> str:
    prefix = next(key for key in NAMES if name.startswith(key + "."))
    return NAMES[prefix] + name[len(prefix):]


def harness_trainer(remedy: str, args: argparse.Namespace, settings: dict[str, Any] | None = None) -> Trainer:
    """The harness's trainer for `remedy` at the checks' size, on synthetic sentences."""
    sizes = {"model.nz": NZ, "model.emb": SIZE, "model.enc_hidden": SIZE, "model.dec_hidden": SIZE,
             "train.batch_size": BATCH, "train.clip": args.clip, "train.diag_every": 0,
             "data.synthetic_size": 100, **(settings or {})}
    run = resolve("synthetic", remedy, args.seed, sizes)
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


def uniform(scale: float) -> Callable[[Tensor], Tensor]:
    """Their `uniform_initializer(scale)`: U(-scale, scale)."""
    return lambda tensor: torch.nn.init.uniform_(tensor, -scale, scale)


def authors_vae(encoder: str, vocab_size: int, **settings: Any) -> Any:
    """Their VAE as their text.py / text_anneal_fb.py builds it, imported from the checkout on sys.path:
    the LSTM encoder `encoder` ("module:Class"), their LSTM decoder, dropout 0.5 / 0.5, `uniform_initializer`
    0.01 for weights and 0.1 for embeddings wherever their `reset_parameters` applies it. `settings` add to
    or replace their args (sizes ni, enc_nh, dec_nh, nz: the checks' by default; device: cpu)."""
    module, name = encoder.split(":")
    encoder_class = getattr(importlib.import_module(module), name)
    decoder_class = importlib.import_module("modules.decoders.dec_lstm").LSTMDecoder
    vae_class = importlib.import_module("modules.vae").VAE
    args = argparse.Namespace(**{"ni": SIZE, "enc_nh": SIZE, "dec_nh": SIZE, "nz": NZ, "dec_dropout_in": 0.5,
                                 "dec_dropout_out": 0.5, "device": "cpu", **settings})
    vocab = {index: index for index in range(vocab_size)}
    encoder_module = encoder_class(args, vocab_size, uniform(0.01), uniform(0.1))
    decoder_module = decoder_class(args, vocab, uniform(0.01), uniform(0.1))
    return vae_class(encoder_module, decoder_module, args)


def align(model: torch.nn.Module, authors: Any) -> None:
    """Their learnable weights and their buffers (BatchNorm's running statistics) into the harness's model;
    a frozen weight (BN-VAE's gamma) each side sets itself, so that a check still compares it."""
    theirs = authors.state_dict()
    frozen = {name for name, param in model.named_parameters() if not param.requires_grad}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name not in frozen:
                tensor.copy_(theirs[authors_name(name)])


def snapshot(model: torch.nn.Module) -> dict[str, Tensor]:
    """Weights and buffers (BatchNorm's running statistics), copied."""
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def largest_difference(state: dict[str, Tensor], other: Callable[[str], Tensor]) -> float:
    """Largest absolute difference between the tensors of `state` and `other(name)`."""
    return max(float((tensor - other(name)).abs().max()) for name, tensor in state.items())


def moved(model: torch.nn.Module, start: dict[str, Tensor]) -> float:
    """How far the weights went from `start`: what the agreement is measured against."""
    weights = {name: param.detach() for name, param in model.named_parameters()}
    return largest_difference(weights, start.__getitem__)


def state_gap(model: torch.nn.Module, other: torch.nn.Module) -> float:
    """Largest difference between two harness models' weights and buffers."""
    return largest_difference(model.state_dict(), other.state_dict().__getitem__)


def gap_to_authors(model: torch.nn.Module, authors: Any) -> float:
    """Largest difference between the harness's weights and buffers and theirs, matched by name."""
    theirs = authors.state_dict()
    return largest_difference(model.state_dict(), lambda name: theirs[authors_name(name)])


def random_batch(draw: torch.Generator, vocab_size: int) -> Batch:
    """BATCH sentences of one length, as the authors' batches; word ids past the specials, and not the
    last id, whose decoder embedding their code never trains (`padding_idx=-1`)."""
    length = int(torch.randint(3, 15, (1,), generator=draw))
    words = [torch.randint(4, vocab_size - 1, (length,), generator=draw).tolist() for _ in range(BATCH)]
    return collate(words, list(range(BATCH)))


def in_lockstep(count: int, vocab_size: int, theirs: Step, ours: Step, gap: Callable[[], float],
                noise: Tensor, seed: int, dropout_seed: Callable[[int], int],
                resync: Callable[[], None] | None = None) -> tuple[float, float]:
    """`count` steps of both sides on the same batches, noise (refilled into `noise`) and dropout masks
    (the global stream seeded alike before each side); the largest loss and weight gaps seen. `resync`,
    if given, brings both to one state before each step, so that each gap is one update's."""
    draw = torch.Generator().manual_seed(seed + 1)
    worst_loss = worst_weight = 0.0
    for index in range(count):
        if resync is not None:
            resync()
        batch = random_batch(draw, vocab_size)
        noise.copy_(torch.randn(noise.shape, generator=draw))
        torch.manual_seed(dropout_seed(index))
        theirs_loss = theirs(index, batch)
        torch.manual_seed(dropout_seed(index))
        ours_loss = ours(index, batch)
        worst_loss = max(worst_loss, float((theirs_loss - ours_loss).abs().max()))
        worst_weight = max(worst_weight, gap())
    return worst_loss, worst_weight


def authors_step(model: Any, tokens: Tensor, clip: float, encoder: bool = True,
                 decoder: bool = True) -> Tensor:
    """One step of their loop (He et al.'s text.py, BN-VAE's text_anneal_fb.py): zero both optimisers,
    loss.mean() backward at KL weight 1, clip all, step the chosen halves (SGD, lr 1)."""
    model.train()
    enc_opt = torch.optim.SGD(model.encoder.parameters(), lr=1.0)
    dec_opt = torch.optim.SGD(model.decoder.parameters(), lr=1.0)
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    loss = model.loss(tokens, 1.0, nsamples=1)[0]
    loss.mean(dim=-1).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    if encoder:
        enc_opt.step()
    if decoder:
        dec_opt.step()
    return loss.detach()


def harness_step(trainer: Trainer, batch: Batch) -> Tensor:
    """`Trainer.run_step`, the step every run takes, the remedy's hooks included; the per-sentence loss."""
    trainer.run_step(batch)
    terms = trainer.last_terms
    assert terms is not None
    return (terms.rec + trainer.kl_weight_now * terms.kl).detach()


def verdict(loss_gap: float, weight_gap: float) -> bool:
    return loss_gap <= LOSS_TOLERANCE and weight_gap <= WEIGHT_TOLERANCE


# --- He et al. 2019 ----------------------------------------------------------------------------------
def he_check(repo: Path, args: argparse.Namespace) -> bool:
    """Aggressive training's one-half steps against their VAE and text.py step rule."""
    trainer = harness_trainer("aggressive", args)
    vocab_size = len(trainer.corpus.vocab)
    torch.manual_seed(args.seed)
    with imported_from(repo):
        authors = authors_vae("modules.encoders.enc_lstm:LSTMEncoder", vocab_size)
    align(trainer.model, authors)
    start = snapshot(trainer.model)
    rounds_of = args.inner + 1

    def theirs(index: int, batch: Batch) -> Tensor:
        encoder = index % rounds_of < args.inner
        return authors_step(authors, batch.tokens, args.clip, encoder=encoder, decoder=not encoder)

    def ours(index: int, batch: Batch) -> Tensor:
        encoder = index % rounds_of < args.inner
        return trainer.update(batch, encoder=encoder, decoder=not encoder, kl_weight=1.0)

    noise = torch.zeros(BATCH, 1, NZ)
    with shared_noise(type(authors.encoder), noise):
        worst_loss, worst_weight = in_lockstep(
            args.rounds * rounds_of, vocab_size, theirs, ours, lambda: gap_to_authors(trainer.model, authors),
            noise, args.seed, lambda index: args.seed + index % rounds_of)
    print(f"He et al.: {args.rounds * rounds_of} steps ({args.rounds} rounds of {args.inner} encoder-only + "
          f"1 decoder-only), the same weights, batches, dropout masks and noise: largest loss difference "
          f"{worst_loss:.3g}, largest parameter difference {worst_weight:.3g}; parameters moved by up to "
          f"{moved(trainer.model, start):.3g}")
    return verdict(worst_loss, worst_weight)


# --- BN-VAE, Zhu et al. 2020 ---------------------------------------------------------------------------
def posterior_gap(trainer: Trainer, authors: Any, batch: Batch) -> float:
    """Largest difference of mu and logvar in evaluation mode, where BatchNorm reads running statistics."""
    authors.eval()
    trainer.model.eval()
    with torch.no_grad():
        theirs = authors.encode_stats(batch.tokens)
        ours = trainer.model.encode(batch)
    return max(float((a - b).abs().max()) for a, b in zip(theirs, ours, strict=True))


@dataclass
class Run:
    """Both sides after a BN-VAE lockstep, with its largest gaps and how far the weights went."""

    trainer: Trainer
    authors: Any
    loss_gap: float
    weight_gap: float
    moved: float


def bn_vae_steps(repo: Path, args: argparse.Namespace, resync: bool) -> Run:
    """A `bn-vae` trainer and their VAE from the same learnable weights through `args.steps` steps,
    `Trainer.run_step` against their text_anneal_fb.py rule; `resync`: from one state at each step."""
    trainer = harness_trainer(f"bn-vae(gamma={args.gamma})", args)
    vocab_size = len(trainer.corpus.vocab)
    torch.manual_seed(args.seed)
    with imported_from(repo):
        authors = authors_vae("modules.encoders.enc_lstm:GaussianLSTMEncoder", vocab_size,
                              gamma=args.gamma, fix_var=-1)
    align(trainer.model, authors)
    start = snapshot(trainer.model)
    noise = torch.zeros(BATCH, 1, NZ)
    with shared_noise(type(authors.encoder), noise):
        loss_gap, weight_gap = in_lockstep(
            args.steps, vocab_size, lambda _, batch: authors_step(authors, batch.tokens, args.clip),
            lambda _, batch: harness_step(trainer, batch), lambda: gap_to_authors(trainer.model, authors),
            noise, args.seed, lambda index: args.seed + index,
            (lambda: align(trainer.model, authors)) if resync else None)
    return Run(trainer, authors, loss_gap, weight_gap, moved(trainer.model, start))


def bn_vae_check(repo: Path, args: argparse.Namespace) -> bool:
    """A `bn-vae` run's steps against their BatchNorm encoder and text_anneal_fb.py step rule.

    Judged step by step from one state: run freely, the two drift apart by more than float32
    rounding, because BatchNorm divides each mean by its spread over the batch and so magnifies a
    last-bit difference step after step; the free-running gaps are printed beside.
    """
    free = bn_vae_steps(repo, args, resync=False)
    run = bn_vae_steps(repo, args, resync=True)
    evaluation = posterior_gap(run.trainer, run.authors, random_batch(
        torch.Generator().manual_seed(args.seed + 2), len(run.trainer.corpus.vocab)))
    print(f"BN-VAE (gamma {args.gamma}): {args.steps} steps, the same learnable weights, batches, dropout "
          f"masks and noise.\n  Each step from one state (their weights and statistics copied into the "
          f"harness's model first, gamma not): largest loss difference {run.loss_gap:.3g}, largest "
          f"difference in weights, gamma and BatchNorm running statistics after it {run.weight_gap:.3g}; "
          f"parameters moved by up to {run.moved:.3g}.\n  Run freely: largest loss difference "
          f"{free.loss_gap:.3g}, in weights and statistics {free.weight_gap:.3g} (not judged).\n  "
          f"Posterior in evaluation mode afterwards (running statistics): largest difference "
          f"{evaluation:.3g}")
    return verdict(run.loss_gap, max(run.weight_gap, evaluation))


# --- Cyclical annealing, Fu et al. 2019 -----------------------------------------------------------------
class StandInBatches:
    """Stands in for their hdf5 `Dataset` (data.py): `count` batches of two 5-word sentences.

    Their schedule reads only how many batches an epoch has; their model trains on these as on PTB.
    """

    vocab_size = 10

    def __init__(self, count: int) -> None:
        self.count = count
        self.batch_size = torch.full((count,), 2)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> list[Any]:
        return [torch.randint(self.vocab_size, (2, 6)), 5, 2]


def fu_schedule(script: ModuleType, steps_per_epoch: int) -> list[tuple[float, float]]:
    """(KL weight, learning rate) of every step of their script's default run, read as its Adam steps.

    Their `main` runs as it is, with its defaults (40 epochs, cycles of 10, beta from 0.1 over 5 epochs,
    Adam at 1e-3 under a cosine restarted each cycle) but a model of width 8 on `steps_per_epoch`
    stand-in batches, on the CPU (`--slurm 1 --gpu -1`), its log and checkpoint in a scratch folder.
    """
    steps: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        args = script.parser.parse_args(
            ["--slurm", "1", "--gpu", "-1", "--checkpoint_dir", scratch, "--latent_dim", "2",
             "--enc_word_dim", "8", "--enc_h_dim", "8", "--dec_word_dim", "8", "--dec_h_dim", "8"])

        class RecordingAdam(torch.optim.Adam):
            def step(self, closure: Any = None) -> Any:
                steps.append((args.beta, self.param_groups[0]["lr"]))
                return super().step(closure)

        def datasets(path: str) -> StandInBatches:
            return StandInBatches(steps_per_epoch if path == args.train_file else 1)

        with mock.patch.object(script, "args", args, create=True), \
                mock.patch.object(script, "Dataset", datasets), \
                mock.patch.object(torch.optim, "Adam", RecordingAdam), \
                script.logger.session(dir=scratch, format_strs=["log"]), \
                contextlib.redirect_stdout(io.StringIO()):
            script.main(args)  # their `eval` reads the global `args` their __main__ sets
    return steps


def harness_schedule(trainer: Trainer) -> list[tuple[float, float]]:
    """(KL weight, learning rate) that `Trainer.run_step` sets at every step of the planned horizon."""
    horizon, remedy = trainer.horizon, trainer.remedy
    return [(remedy.kl_weight(step, horizon), trainer.protocol.lr * remedy.lr_factor(step, horizon))
            for step in range(horizon.total_steps)]


def first_at_largest(values: list[float]) -> int:
    """The first step within rounding of the largest value: their KL weight, summed step by step, can
    stop a last bit short of 1 and reach it exactly one step later."""
    return next(step for step, value in enumerate(values) if value >= max(values) - SCHEDULE_TOLERANCE)


def schedule_report(name: str, theirs: list[float], ours: list[float]) -> tuple[str, float]:
    """One line on a per-step quantity: its largest difference, the first step beyond rounding, where each
    side first reaches its maximum (within rounding)."""
    gaps = [abs(a - b) for a, b in zip(theirs, ours, strict=True)]
    worst = max(gaps)
    first = next((step for step, gap in enumerate(gaps) if gap > SCHEDULE_TOLERANCE), None)
    where = "none" if first is None else f"step {first} (theirs {theirs[first]:.6g}, ours {ours[first]:.6g})"
    peaks = (f"first at its largest at step {first_at_largest(theirs)} (theirs), "
             f"{first_at_largest(ours)} (ours)")
    return f"  {name}: largest difference {worst:.3g}; first beyond rounding: {where}; {peaks}", worst


def fu_step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, batch: Batch, beta: float, lr: float,
            kl_loss_diag: Callable[..., Tensor], clip: float) -> Tensor:
    """Their train_text_cyc_ptb.py step ("vae" model) on the harness's model: the lr their schedule set,
    zero_grad, nll (summed over positions, mean over sentences) + beta x their kl_loss_diag, backward,
    clip all, one Adam steps. The mean loss."""
    for group in optimiser.param_groups:
        group["lr"] = lr
    optimiser.zero_grad()
    model.train()
    terms = model.loss_terms(batch)
    loss = terms.rec.mean() + beta * kl_loss_diag(terms.mu, terms.logvar)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimiser.step()
    return loss.detach()


def cyclical_check(repo: Path, args: argparse.Namespace) -> bool:
    """Their LM script's per-step KL weight and lr against `cyclical`'s; then the updates they weight."""
    with imported_from(repo / "language_model", stubs=("h5py",)):
        script = importlib.import_module("train_text_cyc_ptb")
        kl_loss_diag = importlib.import_module("utils").kl_loss_diag
        defaults = {"train.optimizer": "adam", "train.lr": script.parser.get_default("lr"),
                    "train.epochs": script.parser.get_default("num_epochs")}
        trainer = harness_trainer("cyclical", args, defaults)
        with as_in_their_day():
            theirs = fu_schedule(script, trainer.horizon.steps_per_epoch)
    ours = harness_schedule(trainer)
    cycle, warmup = script.parser.get_default("cycle"), script.parser.get_default("warmup")
    print(f"Cyclical: their train_text_cyc_ptb.py, {len(theirs)} steps ({trainer.cfg.train.epochs} epochs of "
          f"{trainer.horizon.steps_per_epoch}; cycles of {cycle} epochs, beta from 0.1 over a warm-up of "
          f"{warmup}), against `{trainer.remedy.spec()}` over its horizon of {len(ours)} steps:")
    if len(theirs) != len(ours):
        print("  the step counts differ")
        return False
    lines = [schedule_report(name, [row[column] for row in theirs], [row[column] for row in ours])
             for column, name in enumerate(("KL weight", "learning rate"))]
    print("\n".join(line for line, _ in lines))
    model = copy.deepcopy(trainer.model)
    optimiser = torch.optim.Adam(model.parameters(), lr=theirs[0][1])
    start = snapshot(trainer.model)
    noise = torch.zeros(BATCH, 1, NZ)
    with shared_noise(None, noise):
        worst_loss, worst_weight = in_lockstep(
            args.steps, len(trainer.corpus.vocab),
            lambda index, batch: fu_step(model, optimiser, batch, *theirs[index], kl_loss_diag, args.clip),
            lambda _, batch: harness_step(trainer, batch).mean(),
            lambda: state_gap(trainer.model, model),
            noise, args.seed, lambda index: args.seed + index)
    print(f"  {args.steps} steps of the harness's model, their step rule and schedule against "
          f"`Trainer.run_step`, the same weights, batches, dropout masks and noise: largest loss difference "
          f"{worst_loss:.3g}, largest parameter difference {worst_weight:.3g}; parameters moved by up to "
          f"{moved(trainer.model, start):.3g}")
    agrees = all(gap <= SCHEDULE_TOLERANCE for _, gap in lines) and verdict(worst_loss, worst_weight)
    print(f"  {'agree' if agrees else 'DIFFER'}: the schedules within {SCHEDULE_TOLERANCE:g} at every step, "
          f"the updates within {LOSS_TOLERANCE:g} (loss) and {WEIGHT_TOLERANCE:g} (parameters) required")
    return agrees


CHECKS = {"repo": (he_check, "modules/vae.py", "jxhe/vae-lagging-encoder"),
          "bn_vae_repo": (bn_vae_check, "text_anneal_fb.py", "valdersoul/bn-vae"),
          "cyclical_repo": (cyclical_check, "language_model/train_text_cyc_ptb.py",
                            "haofuml/cyclical_annealing")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, (_, _, github) in CHECKS.items():
        parser.add_argument(f"--{option.replace('_', '-')}", type=Path, help=f"local checkout of {github}")
    parser.add_argument("--rounds", type=int, default=6,
                        help="He et al.: rounds of encoder-only steps + one decoder step")
    parser.add_argument("--inner", type=int, default=30, help="He et al.: encoder-only steps a round")
    parser.add_argument("--steps", type=int, default=40, help="BN-VAE and cyclical: steps compared")
    parser.add_argument("--gamma", type=float, default=0.5,
                        help="BN-VAE: the fixed BatchNorm scale, both sides (their README's 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip", type=float, default=0.05,
                        help="the gradient-norm clip of both sides; below the norms of a model this fresh, "
                             "so that the clip acts on every step (their 5 would not yet)")
    args = parser.parse_args()
    chosen = {option: getattr(args, option) for option in CHECKS if getattr(args, option) is not None}
    if not chosen:
        parser.error("give at least one checkout: " + ", ".join(f"--{o.replace('_', '-')}" for o in CHECKS))
    for option, repo in chosen.items():
        if not (repo / CHECKS[option][1]).is_file():
            parser.error(f"{repo} has no {CHECKS[option][1]}: give a checkout of {CHECKS[option][2]}")
    results = [CHECKS[option][0](repo, args) for option, repo in chosen.items()]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
