"""The remedy contract as checks a plugin's own tests call, as scikit-learn's `check_estimator`.

    from bench.kit import check_remedy

    def test_conforms():
        check_remedy(KLThreshold, name="kl-threshold")   # or check_remedy("kl-threshold") once installed

`check_remedy` runs every check and raises `ConformanceError` naming each one
that fails. Each check is also a function of a remedy spec in `CHECKS`, for
one test per check (`pytest.mark.parametrize("check", CHECKS, ids=check_id)`);
collapse-bench's own tests run them on every registered remedy. The checks
that need a trainer build the real one on a tiny synthetic corpus (`TINY`)
and drive the remedy as a run's first epoch does, a second or two on a CPU:
a hook that would crash when the epoch ends, or state that a resume would
lose, fails here.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
from collections.abc import Callable, Iterator

import torch

from bench.config import RunConfig
from bench.data.batching import collate
from bench.data.vocab import BOS, PAD, UNK
from bench.single_run import plan_run, resolve
from bench.train import Trainer
from remedies import registry
from remedies.base import Horizon, Remedy

# Settings under which a run takes a step in milliseconds: 40 sentences of 4 words, 8-unit layers.
TINY = {
    "data.synthetic_size": 40, "data.synthetic_vocab": 20, "data.synthetic_length": 4,
    "model.emb": 8, "model.enc_hidden": 8, "model.dec_hidden": 8, "model.cnn_channels": 8,
    "train.batch_size": 8, "train.epochs": 2, "train.diag_every": 0, "eval.iw_samples": 2,
}

Check = Callable[[str], None]


class ConformanceError(AssertionError):
    """A remedy breaks the contract the trainer relies on; the message says which rule and how."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConformanceError(message)


def check_builds_with_defaults(spec: str) -> None:
    """Every parameter has a default, so the bare name is a valid spec."""
    for part in registry.parse(spec).parts():
        remedy = registry.get(part.name)()
        _require(remedy.name == part.name, f"registered as '{part.name}' but named '{remedy.name}'")


def check_spec_round_trips(spec: str) -> None:
    """The canonical spec (config.json, the run id) parses back to the same remedy and parameters."""
    remedy = registry.parse(spec)
    again = registry.parse(remedy.spec())
    _require(again.spec() == remedy.spec() and again.params() == remedy.params(),
             f"spec {remedy.spec()!r} parses back as {again.spec()!r} with {again.params()}")


def check_configure_leaves_the_remedy_as_it_was(spec: str) -> None:
    """`configure` returns the config and keeps nothing of it: it runs once, when the run is resolved,
    and what a hook needs later (the horizon) it is given."""
    remedy = registry.parse(spec)
    before = copy.deepcopy(remedy.parts())
    cfg = remedy.configure(RunConfig())
    _require(isinstance(cfg, RunConfig), f"configure returned {type(cfg).__name__}, not the config")
    _require(remedy.parts() == before, "configure changed the remedy (state derived from the config?)")


def check_schedules_stay_in_range(spec: str) -> None:
    """The KL weight and the lr factor stay in [0, 1] at every step of any horizon (1: the ELBO, the
    protocol's lr)."""
    remedy = registry.parse(spec)
    for steps_per_epoch in (1, 7, 100):
        horizon = Horizon(steps_per_epoch, epochs=5)
        for step in range(0, 6 * steps_per_epoch, max(1, steps_per_epoch // 10)):
            for hook in (remedy.kl_weight, remedy.lr_factor):
                value = hook(step, horizon)
                _require(0.0 <= value <= 1.0, f"{hook.__name__}({step}, {horizon}) = {value}, not in [0, 1]")


def check_decoder_inputs_keep_shape_and_targets(spec: str) -> None:
    """Decoder inputs keep shape and dtype; only words turn into <unk>, never <s> or padding; the
    targets and the caller's tensor are untouched."""
    batch = collate([[5, 6, 7, 8], [9, 10], [11, 12, 13]], [0, 1, 2])
    tokens = batch.tokens.clone()
    inputs = registry.parse(spec).decoder_inputs(batch.inputs, UNK, torch.Generator().manual_seed(0))
    _require(inputs.shape == batch.inputs.shape and inputs.dtype == batch.inputs.dtype,
             f"decoder_inputs returned {tuple(inputs.shape)} {inputs.dtype}, "
             f"given {tuple(batch.inputs.shape)} {batch.inputs.dtype}")
    _require(torch.equal(batch.tokens, tokens), "decoder_inputs changed the batch's tokens in place")
    changed = inputs != batch.inputs
    _require(bool(torch.all(inputs[changed] == UNK)), "decoder_inputs put a token other than <unk>")
    _require(not changed[batch.inputs == BOS].any() and not changed[batch.inputs == PAD].any(),
             "decoder_inputs changed <s> or padding")


def check_kl_term_is_per_sentence(spec: str) -> None:
    """`kl_term` turns [B, nz] KL into a finite, non-negative [B] penalty."""
    kl = torch.rand(6, 3, generator=torch.Generator().manual_seed(0))
    term = registry.parse(spec).kl_term(kl)
    _require(term.shape == (6,), f"kl_term of a [6, 3] KL has shape {tuple(term.shape)}, not [6]")
    _require(bool(torch.all(torch.isfinite(term)) and torch.all(term >= 0)),
             "kl_term is negative or not finite")


def check_extra_loss_is_per_sentence(spec: str) -> None:
    """`extra_loss` turns [B, nz] KL into a finite [B] term at any step (of any sign: a Lagrange term)."""
    kl = torch.rand(6, 3, generator=torch.Generator().manual_seed(0))
    remedy = registry.parse(spec)
    for step in (0, 7, 1000):
        term = remedy.extra_loss(kl, step, Horizon(steps_per_epoch=7, epochs=5))
        _require(term.shape == (6,), f"extra_loss of a [6, 3] KL has shape {tuple(term.shape)}, not [6]")
        _require(bool(torch.all(torch.isfinite(term))), f"extra_loss at step {step} is not finite")


def check_cites_a_paper(spec: str) -> None:
    """`paper` and the docstring's first line (what `list remedies` shows) cite the method's paper."""
    for part in registry.parse(spec).parts():
        cls = type(part)
        _require(bool(re.search(r"(19|20)\d\d", cls.paper)),
                 f"{cls.__name__}: set `paper` to 'Author et al. YEAR, ...'")
        first_line = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        _require(bool(re.search(r"(et al\.|(&|and) [A-Z]\w+) (19|20)\d\d", first_line)),
                 f"{cls.__name__}: the docstring's first line should cite the paper (Author et al. YEAR, "
                 "or A & B YEAR)")


def check_one_training_step(spec: str) -> None:
    """One training step on tiny synthetic data changes the weights and logs finite numbers."""
    trainer = _tiny_trainer(spec)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.remedy.before_training(trainer)
    trainer.run_step(trainer.train_batches[0])
    row = trainer.curve[-1]
    _require(math.isfinite(row.get("rec", math.nan)) and math.isfinite(row.get("kl", math.nan)),
             f"the step logged rec {row.get('rec')} and KL {row.get('kl')}")
    _require(0 <= row["kl_weight"] <= 1, f"the step ran at KL weight {row['kl_weight']}")
    _require(any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True)),
             "a training step left every weight unchanged")


def check_epoch_end_takes_the_validation_metrics(spec: str) -> None:
    """An epoch ends as the trainer ends it: `on_epoch_end` gets the metrics its validation computes
    and no others, so a hook that reads a key validation does not give fails here, not after a run's
    first epoch."""
    _tiny_trainer(spec).end_of_epoch()


def check_state_round_trips(spec: str) -> None:
    """The state a run leaves in the remedy (a step and an epoch's end) comes back whole in a fresh
    instance through `state_dict` and `load_state_dict`, as a resumed run restores it."""
    remedy = _driven(spec).remedy
    state = copy.deepcopy(remedy.state_dict())
    fresh = registry.parse(spec)
    fresh.load_state_dict(copy.deepcopy(state))
    _require(fresh.state_dict() == state,
             f"after load_state_dict({state}) a fresh instance's state_dict is {fresh.state_dict()}")
    _require(fresh.parts() == remedy.parts(),
             f"after a step and an epoch's end the remedy is {remedy.parts()}, but a fresh instance given "
             f"its state_dict is {fresh.parts()}: state_dict leaves out run-time state")


def _tiny_trainer(spec: str) -> Trainer:
    """The trainer a run of `spec` on the tiny corpus builds."""
    run = resolve("synthetic", spec, 0, TINY)
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


def _driven(spec: str) -> Trainer:
    """A tiny trainer whose remedy saw what a run's first epoch shows it: pretraining, a step, the
    epoch's end."""
    trainer = _tiny_trainer(spec)
    trainer.remedy.before_training(trainer)
    trainer.run_step(trainer.train_batches[0])
    trainer.end_of_epoch()
    return trainer


CHECKS: tuple[Check, ...] = (
    check_builds_with_defaults, check_spec_round_trips, check_configure_leaves_the_remedy_as_it_was,
    check_schedules_stay_in_range, check_decoder_inputs_keep_shape_and_targets,
    check_kl_term_is_per_sentence, check_extra_loss_is_per_sentence, check_cites_a_paper,
    check_one_training_step, check_epoch_end_takes_the_validation_metrics, check_state_round_trips,
)


def check_id(check: Check) -> str:
    """A check's short name, for test ids and messages: `schedules_stay_in_range`."""
    return check.__name__.removeprefix("check_")


def check_remedy(remedy: str | type[Remedy], *, name: str | None = None) -> None:
    """Run every check on `remedy`: a spec (a registered name, with parameters if wanted) or a Remedy
    class, registered as `name` for the checks if it is not registered yet.

    Raises ConformanceError listing each failed check and why.
    """
    with _spec(remedy, name) as spec:
        failures = []
        for check in CHECKS:
            try:
                check(spec)
            except ConformanceError as exc:
                failures.append(f"{check_id(check)}: {exc}")
            except Exception as exc:  # a crash in a hook is a failed check too, reported beside the others
                failures.append(f"{check_id(check)}: {type(exc).__name__}: {exc}")
    if failures:
        raise ConformanceError(f"remedy '{spec}' fails {len(failures)} of {len(CHECKS)} conformance "
                               "checks:\n  " + "\n  ".join(failures))


@contextlib.contextmanager
def _spec(remedy: str | type[Remedy], name: str | None) -> Iterator[str]:
    """The spec the checks take: `remedy` itself, or the name a class is (or is now) registered as."""
    if isinstance(remedy, str):
        yield remedy
        return
    name = name or remedy.name  # `register` sets a class's name
    if name == Remedy.name:
        raise ValueError(f"{remedy.__name__} is not registered: give its name, as in "
                         f"check_remedy({remedy.__name__}, name='my-remedy')")
    with registry.registered(name, remedy):
        yield name
