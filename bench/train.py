"""Training by the reference protocol, with remedies plugged in through hooks.

Default protocol (He et al. 2019 code): separate SGD optimisers for encoder and
decoder (lr 1.0, no momentum), gradient-norm clip 5, one z sample per
sentence, loss = mean over sentences of rec + kl_weight * KL. After each
epoch the validation negative ELBO at KL weight 1 selects the best
checkpoint; from epoch 15 on, 2 epochs without improvement halve the lr and
reload the best weights; 5 halvings end training.

`Trainer.fit` owns the loop: the remedy's pretraining or the resume from a
checkpoint, the epochs, a checkpoint after each, and the best weights at the
end; it hands back the `FitRecord` that metrics.json keeps.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from bench import store
from bench.config import RunConfig
from bench.data.batching import Batch, batch_sizes, make_batches
from bench.data.datasets import Corpus
from bench.data.vocab import UNK
from bench.evaluate import elbo_sums, encode_all, split_batches
from bench.metrics import active_units, mutual_info, mutual_info_batched
from bench.models import SentenceVAE, build_model
from bench.models.vae import LossTerms
from bench.protocol import ProtocolState
from bench.trackers import Tracker
from remedies.base import Horizon, Remedy

EPOCH_SEED_STRIDE = 1_000_003  # seed x stride + epoch: distinct per (seed, epoch) for any run length


class Diverged(RuntimeError):
    """The loss became NaN or infinite: the run is recorded as failed."""


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


@dataclasses.dataclass(frozen=True)
class FitRecord:
    """What metrics.json keeps of a fit: model selection, how long it ran, and its time."""

    best_epoch: int  # counted from 0, as every epoch number here
    epochs_run: int
    steps: int
    gradient_steps: int | None  # every update, aggressive inner steps included; None: resumed from a
    # checkpoint written before the count existed
    validation: list[dict[str, float]]  # per epoch: validation metrics and the lr
    resumed_from_epoch: int | None  # None: trained in one go
    train_s: float  # training with validation and pretraining, across resumes
    train_steps_s: float  # training steps alone
    train_tokens: int  # target tokens seen by training steps

    def fields(self) -> dict[str, Any]:
        """The top-level metrics.json fields."""
        return {"best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "steps": self.steps,
                "gradient_steps": self.gradient_steps, "validation": self.validation,
                "resumed_from_epoch": self.resumed_from_epoch}

    def timings(self) -> dict[str, float]:
        return {"train_s": self.train_s, "train_steps_s": self.train_steps_s,
                "train_tokens_per_s": self.train_tokens / max(self.train_steps_s, 1e-9)}


class Trainer:
    """Owns the model, the optimisers and the loop; remedies act through its `TrainerView` members.

    `remedies.base.TrainerView` lists what a hook may use; everything else
    here is the harness's.
    """

    def __init__(self, cfg: RunConfig, corpus: Corpus, remedy: Remedy) -> None:
        self.cfg = cfg
        self.corpus = corpus
        self.remedy = copy.deepcopy(remedy)  # this run's own: its state never reaches another run
        self.device = torch.device(cfg.train.device)
        torch.manual_seed(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed + 1)
        self.model: SentenceVAE = build_model(len(corpus.vocab), cfg.model).to(self.device)
        self.train_batches = make_batches(corpus.splits["train"], cfg.train.batch_size,
                                          by_length=cfg.train.by_length)
        smallest = max(cfg.train.min_batch, 2 if cfg.model.bn_gamma > 0 else 1)  # BatchNorm cannot normalise
        # one sentence; BN-VAE's code skips it too
        self.train_batches = [batch for batch in self.train_batches if len(batch) >= smallest]
        self.horizon = Horizon(steps_per_epoch=len(self.train_batches), epochs=cfg.train.epochs)
        self.valid_batches = split_batches(corpus.splits["valid"])
        # He et al.'s per-batch MI (the aggressive stop rule) is taken over validation batches cut as the
        # training batches are: with by-length batching, their equal-length groups.
        self.valid_mi_batches = batch_sizes(corpus.splits["valid"], cfg.train.batch_size, cfg.train.by_length)
        diag = corpus.splits["valid"][: cfg.train.diag_batch]
        self.diag_batches = split_batches(diag)
        self.snapshots: list[dict[str, Any]] = []  # posterior-mean points (nz = 1 runs)
        self.step = 0
        self.gradient_steps: int | None = 0  # calls of `update`: what a run cost in gradient evaluations
        self.epoch = 0  # the epoch under way, counted from 0 (as "epoch" and "best_epoch" in metrics.json)
        self.kl_weight_now = 1.0
        self.curve: list[dict[str, Any]] = []
        self.protocol = ProtocolState(lr=cfg.train.lr)
        self.best_state: dict[str, Tensor] | None = None
        self.last_terms: LossTerms | None = None  # of the latest update, for the curve
        self.step_tokens = 0  # target tokens seen by training steps
        self.step_seconds = 0.0  # time spent in training steps (no validation)
        self.train_seconds = 0.0  # training including validation, across resumes
        self.enc_opt, self.dec_opt = self._optimisers(cfg.train.lr)
        self.tracker = Tracker()  # sees each curve row and validation row; records nothing unless set

    # --- pieces remedies use (TrainerView), and the lr the protocol sets ----
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
        """This step's lr = factor x the protocol lr, keeping optimiser state (the `lr_factor` hook)."""
        for optimiser in (self.enc_opt, self.dec_opt):
            for group in optimiser.param_groups:
                group["lr"] = self.protocol.lr * factor

    def random_train_batch(self) -> Batch:
        index = int(torch.randint(len(self.train_batches), (1,), generator=self.generator))
        return self.train_batches[index].to(self.device)

    def shuffled_train_batches(self) -> Iterator[Batch]:
        """One pass over the training batches in an order drawn with `generator`, on the device."""
        order = torch.randperm(len(self.train_batches), generator=self.generator).tolist()
        for index in order:
            yield self.train_batches[index].to(self.device)

    def loss_on(self, batch: Batch, kl_weight: float | None = None) -> tuple[Tensor, LossTerms]:
        """Per-sentence training loss [B]: rec + weight x the remedy's KL term + its extra term, on its
        decoder inputs, + the model's bag-of-words loss when it has the head."""
        weight = self.kl_weight_now if kl_weight is None else kl_weight
        inputs = self.remedy.decoder_inputs(batch.inputs, UNK, self.generator)
        with autocast(self.cfg.train.precision, self.cfg.train.device):
            terms = self.model.loss_terms(batch, inputs=inputs)
        kl_per_dim = terms.kl_per_dim.float()
        loss = terms.rec.float() + weight * self.remedy.kl_term(kl_per_dim)
        loss = loss + self.remedy.extra_loss(kl_per_dim, self.step, self.horizon)
        if terms.aux is not None:
            loss = loss + terms.aux.float()
        return loss, terms

    def update(
        self, batch: Batch, *, encoder: bool = True, decoder: bool = True, kl_weight: float | None = None
    ) -> Tensor:
        """One gradient step on `batch` for the chosen halves; the per-sentence loss it took, detached.

        He et al.'s rule, also for a one-half step (aggressive training): the
        backward pass computes the gradient of both halves, the norm clip sees
        their joint norm, and only the chosen optimisers step. Freezing the
        other half would give the same gradient but a different clip, so a
        different update (docs/fidelity.md).
        """
        self.model.train()
        per_sentence, terms = self.loss_on(batch, kl_weight)
        loss = per_sentence.mean()
        if not torch.isfinite(loss):
            raise Diverged(f"non-finite loss {loss.item()} at step {self.step}, epoch {self.epoch}")
        self.enc_opt.zero_grad(set_to_none=True)
        self.dec_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.clip)
        if encoder:
            self.enc_opt.step()
        if decoder:
            self.dec_opt.step()
        self.remedy.after_update(terms.kl_per_dim.detach().float(), encoder, decoder)
        self.last_terms = terms
        if self.gradient_steps is not None:
            self.gradient_steps += 1
        return per_sentence.detach()

    def reset_decoder(self) -> None:
        """Re-initialise the decoder's weights and rebuild both optimisers, fresh, at the protocol's lr
        (pretraining remedies): the encoder's optimiser state is dropped too."""
        from bench.models.init import half_scheme, initialise

        initialise(self.model.decoder, half_scheme(self.cfg.model.init, "decoder"))
        self.enc_opt, self.dec_opt = self._optimisers(self.protocol.lr)

    # --- the loop -----------------------------------------------------------
    def fit(self, checkpoint: Path | None = None, progress: bool = False) -> FitRecord:
        """The whole training, left with the best weights loaded.

        Continues from `checkpoint` when it holds a state that reads whole,
        else starts with the remedy's `before_training` (counted as training
        time); runs epochs until the protocol ends them, saving `checkpoint`
        after each but the last.
        """
        resumed = self._resume(checkpoint) if checkpoint is not None else None
        if resumed is None:
            started = time.perf_counter()
            self.remedy.before_training(self)
            self.train_seconds += time.perf_counter() - started
        with tqdm(total=self.horizon.total_steps, initial=self.step, unit="step", disable=not progress,
                  desc=f"{self.cfg.remedy[:40]} seed {self.cfg.seed}", leave=False) as bar:
            while not self.finished:
                started = time.perf_counter()
                self.run_epoch(bar)
                self.train_seconds += time.perf_counter() - started
                bar.set_postfix(epoch=self.epoch, kl=f"{self.protocol.history[-1]['kl']:.2f}")
                if checkpoint is not None and not self.finished:
                    store.save_torch(checkpoint, self.state_dict())
        self.load_best()
        return FitRecord(
            best_epoch=self.protocol.best_epoch, epochs_run=self.epoch, steps=self.step,
            gradient_steps=self.gradient_steps, validation=self.protocol.history, resumed_from_epoch=resumed,
            train_s=self.train_seconds, train_steps_s=self.step_seconds, train_tokens=self.step_tokens,
        )

    def _resume(self, checkpoint: Path) -> int | None:
        """Continue from the last epoch's checkpoint if there is one that reads whole; its epoch.

        A damaged checkpoint (a partial copy, a dying disk) is deleted and the
        run starts over: half a training state would silently train a different run.
        """
        if not checkpoint.exists():
            return None
        try:
            state = store.load_torch(checkpoint)
        except store.Damaged:
            checkpoint.unlink()
            return None
        self.load_state_dict(state)
        return self.epoch

    def traces(self) -> dict[str, list[dict[str, Any]]]:
        """What training recorded so far, by store table: the curve, and posterior-mean snapshots if any."""
        return {store.CURVE: self.curve, store.SNAPSHOTS: self.snapshots}

    def run_step(self, batch: Batch) -> None:
        """One training step: the schedule hooks, the remedy's step or a plain update, a curve row."""
        self.model.train()
        batch = batch.to(self.device)
        self.kl_weight_now = self.remedy.kl_weight(self.step, self.horizon)
        self.model.follow_kl_weight(self.kl_weight_now)
        self.scale_step_lr(self.remedy.lr_factor(self.step, self.horizon))
        self.last_terms = None
        if not self.remedy.train_step(self, batch):
            self.update(batch)
        terms = self.last_terms
        row: dict[str, Any] = {"step": self.step, "gradient_steps": self.gradient_steps, "epoch": self.epoch,
                               "kl_weight": self.kl_weight_now}
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
        generator, family = torch.Generator().manual_seed(self.cfg.seed), self.model.family
        return {"mi": mutual_info(mu, logvar, generator, family=family),
                "au": active_units(family.mean(mu, logvar), self.cfg.eval.au_threshold)}

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
        sums = elbo_sums(self.model, self.valid_batches, self.device)
        self.model.train()
        diagnostics = self._mi_au(sums.mu, sums.logvar)
        mi_batch = mutual_info_batched(sums.mu, sums.logvar, self.valid_mi_batches, self._epoch_generator(),
                                       analytic_entropy=True, family=self.model.family)
        count = sums.sentences
        return {
            "loss": sums.neg_elbo / count,  # the metrics.json key (bench.evaluate.ElboSums says why)
            "rec": sums.rec / count,
            "kl": sums.kl / count,
            "mi": diagnostics["mi"],
            "mi_batch": mi_batch,
            "au": float(diagnostics["au"]),
        }

    def end_of_epoch(self) -> dict[str, float]:
        """Validate, let the remedy react, then select the model and maybe halve the lr."""
        val = self.evaluate_split()
        if self.cfg.train.gap_sentences:  # measured on its own generator: training stays the same
            from bench.amortisation import validation_gap

            val.update(validation_gap(self.model, self.corpus.splits["valid"], self.cfg, self.device))
        if self.cfg.train.snapshot_every:
            self.snapshot()
        self.remedy.on_epoch_end(self, val)
        verdict = self.protocol.judge(self.epoch, val, self.cfg.train)
        self.tracker.log_epoch(self.protocol.history[-1])
        if verdict.best:
            self.best_state = copy.deepcopy(self.model.state_dict())
        if verdict.halve:
            self.load_best()
            self.set_lr(self.protocol.lr * self.cfg.train.lr_decay)
        return val

    def load_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def run_epoch(self, progress: Any = None) -> None:
        """Epoch `epoch` (numbered from 0): its steps, its validation, then `epoch` counts it."""
        started = time.perf_counter()
        for batch in self.shuffled_train_batches():
            self.run_step(batch)
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
            "gradient_steps": self.gradient_steps,
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
        self.gradient_steps = state.get("gradient_steps")  # unknown after a checkpoint older than the count
        self.snapshots = state["snapshots"]
        torch.set_rng_state(state["torch_rng"])
        self.generator.set_state(state["generator"])
        self.step_tokens, self.step_seconds, self.train_seconds = state["counters"]

    @property
    def finished(self) -> bool:
        return self.protocol.stopped or self.epoch >= self.cfg.train.epochs
