"""Training by the reference protocol, with remedies plugged in through hooks.

Default protocol (He et al. 2019 code): separate SGD optimisers for encoder and
decoder (lr 1.0, no momentum), gradient-norm clip 5, one z sample per
sentence, loss = mean over sentences of rec + kl_weight * KL. After each
epoch the validation negative ELBO at KL weight 1 selects the best
checkpoint; from epoch 15 on, 2 epochs without improvement halve the lr and
reload the best weights; 5 halvings end training.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from bench.config import RunConfig
from bench.data.batching import Batch, make_batches
from bench.data.datasets import Corpus
from bench.data.vocab import UNK
from bench.evaluate import encode_all, split_batches
from bench.metrics import active_units, mutual_info, mutual_info_batched
from bench.models import SentenceVAE, build_model
from bench.models.vae import LossTerms
from bench.trackers import Tracker
from remedies.base import Remedy

EPOCH_SEED_STRIDE = 1_000_003  # seed x stride + epoch: distinct per (seed, epoch) for any run length


class Diverged(RuntimeError):
    """The loss became NaN or infinite: the run is recorded as failed."""


@dataclasses.dataclass
class ProtocolState:
    """What the lr schedule and model selection remember between epochs.

    Two bars, as in He et al.'s code: `best_loss` picks the checkpoint and
    only ever goes down; `decay_bar` is what "not improved" compares with,
    and a halving resets it to that epoch's (worse) loss.
    """

    best_loss: float = math.inf
    decay_bar: float = math.inf
    best_epoch: int = -1
    not_improved: int = 0
    decays: int = 0
    lr: float = 0.0
    stopped: bool = False
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on `device` when `precision` asks for it, a no-op in fp32.

    Training steps follow `train.precision`; validation always runs in fp32,
    so model selection does not depend on the hardware, and the final
    evaluation follows `eval.precision` (fp32 unless asked: docs/benchmarks.md
    gives what bf16 changes in the metrics).
    """
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Trainer:
    """Owns the model, the optimisers and the loop; remedies act through its methods.

    Public methods a remedy may call: `loss_on(batch)`, `update(batch, ...)`,
    `random_train_batch()`, `reset_decoder()`, `set_lr(lr)`, `scale_step_lr(factor)`.
    """

    def __init__(self, cfg: RunConfig, corpus: Corpus, remedy: Remedy) -> None:
        self.cfg = cfg
        self.corpus = corpus
        self.remedy = remedy
        self.device = torch.device(cfg.train.device)
        torch.manual_seed(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed + 1)
        self.model: SentenceVAE = build_model(len(corpus.vocab), cfg.model).to(self.device)
        self.train_batches = make_batches(corpus.splits["train"], cfg.train.batch_size)
        if cfg.model.bn_gamma > 0:  # BatchNorm cannot normalise one sentence; BN-VAE's code skips it too
            self.train_batches = [batch for batch in self.train_batches if len(batch) > 1]
        self.valid_batches = split_batches(corpus.splits["valid"])
        diag = corpus.splits["valid"][: cfg.train.diag_batch]
        self.diag_batches = split_batches(diag)
        self.snapshots: list[dict[str, Any]] = []  # posterior-mean points (nz = 1 runs)
        self.step = 0
        self.epoch = 0
        self.kl_weight_now = 1.0
        self.curve: list[dict[str, Any]] = []
        self.protocol = ProtocolState(lr=cfg.train.lr)
        self.best_state: dict[str, Tensor] | None = None
        self.last_terms: LossTerms | None = None  # of the latest update(), for the curve
        self.step_tokens = 0  # target tokens seen by training steps
        self.step_seconds = 0.0  # time spent in training steps (no validation)
        self.train_seconds = 0.0  # training including validation, across resumes
        self.enc_opt, self.dec_opt = self._optimisers(cfg.train.lr)
        self.tracker = Tracker()  # sees each curve row and validation row; records nothing unless set

    # --- pieces remedies use ------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_batches)

    def _optimisers(self, lr: float) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        def make(params: Iterator[torch.nn.Parameter]) -> torch.optim.Optimizer:
            trainable = [p for p in params if p.requires_grad]
            if self.cfg.train.optimizer == "adam":
                return torch.optim.Adam(trainable, lr=lr)
            return torch.optim.SGD(trainable, lr=lr, momentum=self.cfg.train.momentum)

        return make(self.model.encoder.parameters()), make(self.model.decoder.parameters())

    def set_lr(self, lr: float) -> None:
        """New optimisers at `lr` (the reference rebuilds them when it halves the lr)."""
        self.protocol.lr = lr
        self.enc_opt, self.dec_opt = self._optimisers(lr)

    def scale_step_lr(self, factor: float) -> None:
        """This step's lr = factor x the protocol lr, keeping optimiser state (lr schedules)."""
        for optimiser in (self.enc_opt, self.dec_opt):
            for group in optimiser.param_groups:
                group["lr"] = self.protocol.lr * factor

    def random_train_batch(self) -> Batch:
        index = int(torch.randint(len(self.train_batches), (1,), generator=self.generator))
        return self.train_batches[index].to(self.device)

    def loss_on(self, batch: Batch, kl_weight: float | None = None) -> tuple[Tensor, LossTerms]:
        """Training loss (mean over sentences) with the remedy's input and KL hooks."""
        weight = self.kl_weight_now if kl_weight is None else kl_weight
        inputs = self.remedy.decoder_inputs(batch.inputs, UNK, self.generator)
        with autocast(self.cfg.train.precision, self.cfg.train.device):
            terms = self.model.loss_terms(batch, inputs=inputs)
        penalty = self.remedy.kl_term(terms.kl_per_dim.float())
        loss = (terms.rec.float() + weight * penalty).mean()
        if not torch.isfinite(loss):
            raise Diverged(f"non-finite loss {loss.item()} at step {self.step}, epoch {self.epoch}")
        return loss, terms

    def update(
        self, batch: Batch, *, encoder: bool = True, decoder: bool = True, kl_weight: float | None = None
    ) -> LossTerms:
        """One gradient step on `batch` for the chosen halves of the model.

        He et al.'s rule, also for a one-half step (aggressive training): the
        backward pass computes the gradient of both halves, the norm clip sees
        their joint norm, and only the chosen optimisers step. Freezing the
        other half would give the same gradient but a different clip, so a
        different update (docs/fidelity.md).
        """
        loss, terms = self.loss_on(batch, kl_weight)
        self.enc_opt.zero_grad(set_to_none=True)
        self.dec_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.clip)
        if encoder:
            self.enc_opt.step()
        if decoder:
            self.dec_opt.step()
        self.last_terms = terms
        return terms

    def reset_decoder(self) -> None:
        """Re-initialise the decoder and its optimiser (pretraining remedies)."""
        from bench.models.init import half_scheme, initialise

        initialise(self.model.decoder, half_scheme(self.cfg.model.init, "decoder"))
        self.enc_opt, self.dec_opt = self._optimisers(self.protocol.lr)

    # --- the loop -----------------------------------------------------------
    def train_step(self, batch: Batch) -> None:
        self.model.train()
        batch = batch.to(self.device)
        self.kl_weight_now = self.remedy.kl_weight(self.step, self.steps_per_epoch)
        self.remedy.before_step(self)
        self.last_terms = None
        if not self.remedy.train_step(self, batch):
            self.update(batch)
        terms = self.last_terms
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "kl_weight": self.kl_weight_now}
        if terms is not None:
            rec, kl = float(terms.rec.detach().mean()), float(terms.kl.detach().mean())
            row.update(rec=rec, kl=kl, elbo=-(rec + kl))
        if self.cfg.train.diag_every and self.step % self.cfg.train.diag_every == 0:
            row.update(self.diagnostics())
        self.curve.append(row)
        self.tracker.log_step(row)
        self.step += 1
        every = self.cfg.train.snapshot_every
        if every and self.epoch == 0 and self.step % every == 0:
            self.snapshot()

    def snapshot(self) -> None:
        """Record He et al.'s posterior-mean points for the fixed validation sentences."""
        from bench.diagnostics import posterior_mean_points

        points = posterior_mean_points(self.model, self.diag_batches, self.device)
        for sentence, enc, exact in zip(
            points["sentence"].tolist(), points["encoder_mean"].tolist(), points["model_mean"].tolist(),
            strict=True,
        ):
            self.snapshots.append({"step": self.step, "epoch": self.epoch, "sentence": sentence,
                                   "encoder_mean": enc, "model_mean": exact})

    @torch.inference_mode()
    def diagnostics(self) -> dict[str, float]:
        """MI and AU on the fixed validation batch, for the training curve."""
        self.model.eval()
        mu, logvar = encode_all(self.model, self.diag_batches, self.device)
        self.model.train()
        return self._mi_au(mu, logvar)

    def _mi_au(self, mu: Tensor, logvar: Tensor) -> dict[str, float]:
        """Whole-set MI and AU, with the same seeded draw every time so epochs compare."""
        generator = torch.Generator().manual_seed(self.cfg.seed)
        return {"mi": mutual_info(mu, logvar, generator),
                "au": active_units(mu, self.cfg.eval.au_threshold)}

    def _epoch_generator(self) -> torch.Generator:
        """A draw fresh each epoch, yet the same for (seed, epoch) so a resumed run repeats it.

        He et al.'s per-batch MI samples from the global stream, so a
        collapsed encoder's estimate scatters from epoch to epoch and their
        stop rule ends aggressive mode; one fixed draw would repeat exactly.
        """
        return torch.Generator().manual_seed(EPOCH_SEED_STRIDE * self.cfg.seed + self.epoch)

    @torch.inference_mode()
    def evaluate_split(self) -> dict[str, float]:
        """Validation negative ELBO at KL weight 1 (model selection), with KL, MI and AU.

        `mi_batch` is He et al.'s estimate (per training-size batch of the
        length-sorted split, analytic entropy, noise drawn afresh each epoch):
        their aggressive stop rule and their logs read it, so the side-by-side
        comparison does too.
        """
        self.model.eval()
        total_rec = total_kl = 0.0
        count = 0
        mus, logvars = [], []
        for batch in self.valid_batches:
            batch = batch.to(self.device)
            terms = self.model.loss_terms(batch)
            total_rec += float(terms.rec.float().sum())
            total_kl += float(terms.kl.float().sum())
            count += len(batch)
            mus.append(terms.mu.float())
            logvars.append(terms.logvar.float())
        self.model.train()
        mu, logvar = torch.cat(mus), torch.cat(logvars)
        diagnostics = self._mi_au(mu, logvar)
        mi_batch = mutual_info_batched(mu, logvar, self.cfg.train.batch_size,
                                       self._epoch_generator(), analytic_entropy=True)
        return {
            "loss": (total_rec + total_kl) / count,
            "rec": total_rec / count,
            "kl": total_kl / count,
            "mi": diagnostics["mi"],
            "mi_batch": mi_batch,
            "au": float(diagnostics["au"]),
        }

    def end_of_epoch(self) -> dict[str, float]:
        """Validate, let the remedy react, then select the model and maybe halve the lr."""
        val = self.evaluate_split()
        if self.cfg.train.snapshot_every:
            self.snapshot()
        self.remedy.on_epoch_end(self, val)
        state = self.protocol
        state.history.append({"epoch": self.epoch, **val, "lr": state.lr})
        self.tracker.log_epoch(state.history[-1])
        if val["loss"] < state.best_loss:
            state.best_loss, state.best_epoch = val["loss"], self.epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        if val["loss"] <= state.decay_bar:
            state.decay_bar, state.not_improved = val["loss"], 0
            return val
        state.not_improved += 1
        if (
            state.not_improved >= self.cfg.train.decay_patience
            and self.epoch >= self.cfg.train.decay_after_epoch
        ):
            # As the reference: reload the best weights, halve the lr, and take
            # this epoch's loss as the new bar to beat (the checkpoint keeps its own).
            state.decays += 1
            state.not_improved = 0
            state.decay_bar = val["loss"]
            self.load_best()
            self.set_lr(state.lr * self.cfg.train.lr_decay)
            state.stopped = state.decays >= self.cfg.train.max_decays
        return val

    def load_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def run_epoch(self, progress: Any = None) -> None:
        order = torch.randperm(len(self.train_batches), generator=self.generator).tolist()
        started = time.perf_counter()
        for index in order:
            batch = self.train_batches[index]
            self.train_step(batch)
            self.step_tokens += batch.n_words
            if progress is not None:
                progress.update(1)
        self.step_seconds += time.perf_counter() - started
        self.end_of_epoch()
        self.epoch += 1

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where an epoch ended."""
        return {
            "model": self.model.state_dict(),
            "enc_opt": self.enc_opt.state_dict(),
            "dec_opt": self.dec_opt.state_dict(),
            "best_state": self.best_state,
            "protocol": dataclasses.asdict(self.protocol),
            "remedy": self.remedy.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "curve": self.curve,
            "snapshots": self.snapshots,
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
            "counters": [self.step_tokens, self.step_seconds, self.train_seconds],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.protocol = ProtocolState(**state["protocol"])
        self.set_lr(self.protocol.lr)
        self.enc_opt.load_state_dict(state["enc_opt"])
        self.dec_opt.load_state_dict(state["dec_opt"])
        self.best_state = state["best_state"]
        self.remedy.load_state_dict(state["remedy"])
        self.step, self.epoch, self.curve = state["step"], state["epoch"], state["curve"]
        self.snapshots = state["snapshots"]
        torch.set_rng_state(state["torch_rng"])
        self.generator.set_state(state["generator"])
        self.step_tokens, self.step_seconds, self.train_seconds = state["counters"]

    @property
    def finished(self) -> bool:
        return self.protocol.stopped or self.epoch >= self.cfg.train.epochs
