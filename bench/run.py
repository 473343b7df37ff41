"""One run, end to end: resolve and check everything, train, evaluate, store.

`plan_run` does every check that can fail on user input and writes nothing;
`execute` does the work. A run that raises (NaN loss, out of memory, a bug
in a plugin) is stored with status "failed" and its reason, and the caller
goes on.
"""

from __future__ import annotations

import copy
import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

import bench
from bench import hardware, provenance, store, trackers
from bench.allocator import retain_freed_memory
from bench.config import RunConfig, build_config, validate
from bench.data.datasets import Corpus, cached_corpus
from bench.errors import ConfigError
from bench.evaluate import evaluate, evaluation_subset
from bench.train import Trainer, autocast
from remedies import registry
from remedies.base import Remedy

CHECKPOINT = "checkpoint.pt"


@dataclass
class RunPlan:
    """A run that passed every check: its config, remedy and corpus."""

    cfg: RunConfig
    remedy: Remedy
    corpus: Corpus


def resolve_config(
    dataset: str, remedy_spec: str, seed: int, overrides: dict[str, Any], base: Path | None = None
) -> RunConfig:
    """Dataset defaults + overrides + what the remedy configures, validated; relative paths in
    `dataset` start at `base` (default: the working folder)."""
    remedy = registry.parse(remedy_spec)
    cfg = build_config(dataset, remedy.spec(), seed, overrides, base)
    cfg = remedy.configure(cfg)
    validate(cfg)
    return cfg


def plan_run(cfg: RunConfig, data_dir: str | None = None) -> RunPlan:
    """Build the remedy and load the corpus; raises ConfigError, writes nothing."""
    if cfg.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is visible; use --device cpu")
    remedy = registry.parse(cfg.remedy)
    remedy.configure(copy.deepcopy(cfg))  # the remedy sees the config it will train under
    return RunPlan(cfg=cfg, remedy=remedy, corpus=cached_corpus(cfg.data, data_dir))


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "collapse_bench": bench.__version__,
    }


def _environment(cfg: RunConfig) -> dict[str, Any]:
    return {
        "device": cfg.train.device,
        "device_name": torch.cuda.get_device_name() if cfg.train.device.startswith("cuda")
        else hardware.cpu_description()["cpu"],
        "precision": cfg.train.precision,
        "eval_precision": cfg.eval.precision,
        "threads": torch.get_num_threads(),
        "versions": _versions(),
        "git": provenance.git_state(),  # the checkout's commit; not config, so not in the run id
    }


def execute(plan: RunPlan, out: Path, suite: str, *, progress: bool = False,
            log_to: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train and evaluate one run into `out/suite/runs/<id>/`; return its metrics.json.

    `log_to`: trackers (bench.trackers) that get the training curves as they
    are made; a finished run found again logs nothing.

    A finished run is returned as it is, never redone, marked `already_finished`
    (not stored: another process may have finished it). A run interrupted after
    an epoch end continues from its checkpoint. A run that another live
    process is writing is left alone: the result then has status "busy" and
    nothing is written.
    """
    folder = store.run_dir(out, suite, plan.cfg.run_id())
    try:
        with store.run_lock(folder):
            store.remove_partial_writes(folder)
            if store.run_status(folder) == "finished":
                # A kill between writing metrics.json and deleting the checkpoint leaves one behind.
                (folder / CHECKPOINT).unlink(missing_ok=True)
                return {**store.read_json(folder / store.METRICS), "already_finished": True}
            with trackers.opened(log_to, plan.cfg, suite, store.suite_dir(out, suite)) as tracker:
                metrics = _execute(plan, folder, suite, progress, tracker)
                tracker.finish(metrics)
                return metrics
    except store.RunLocked as exc:
        return {"run_id": plan.cfg.run_id(), "suite": suite, "status": "busy", "reason": str(exc)}


def _execute(
    plan: RunPlan, folder: Path, suite: str, progress: bool, tracker: trackers.Tracker
) -> dict[str, Any]:
    """The run itself, under its lock: train (from the checkpoint if any), evaluate, store."""
    cfg = plan.cfg
    retain_freed_memory()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    store.write_json(folder / store.CONFIG, cfg.to_dict())
    base: dict[str, Any] = {
        **_identity(cfg, suite), **_environment(cfg),
        "data": plan.corpus.source,  # the files read and their sha256: not config, so not in the run id
    }
    started = time.perf_counter()
    trainer: Trainer | None = None
    try:
        trainer = Trainer(cfg, plan.corpus, plan.remedy)
        trainer.tracker = tracker
        resumed = _resume(trainer, folder / CHECKPOINT)
        train_seconds = _train(trainer, folder, progress, fresh=resumed is None)
        eval_started = time.perf_counter()
        trainer.load_best()
        sentences = evaluation_subset(
            plan.corpus.splits[cfg.eval.split], cfg.eval.max_sentences, cfg.data.split_seed
        )
        test = evaluate(
            trainer.model, sentences, cfg.eval, seed=cfg.seed,
            device=trainer.device, autocast=autocast(cfg.eval.precision, cfg.train.device),
            progress=progress,
        )
        eval_seconds = time.perf_counter() - eval_started
        store.save_torch(folder / store.MODEL, trainer.model.state_dict())
        tables = _write_traces(folder, trainer)
        metrics = {
            **base, "status": "finished", "test": test, "model": describe_model(trainer.model),
            "best_epoch": trainer.protocol.best_epoch, "epochs_run": trainer.epoch,
            "steps": trainer.step, "validation": trainer.protocol.history,
            "resumed_from_epoch": resumed,  # None: trained in one go
            "timings": {
                "train_s": train_seconds, "eval_s": eval_seconds,
                "total_s": time.perf_counter() - started,
                "train_steps_s": trainer.step_seconds,
                "train_tokens_per_s": trainer.step_tokens / max(trainer.step_seconds, 1e-9),
                **test.pop("timings"),
            },
            "files": store.digests(folder, [store.CONFIG, store.MODEL, *(path.name for path in tables)]),
        }
        store.write_json(folder / store.METRICS, metrics)
        (folder / CHECKPOINT).unlink(missing_ok=True)
        return metrics
    except Exception as exc:  # recorded, never raised: the suite goes on
        if trainer is not None:
            _write_traces(folder, trainer)
        metrics = {
            **base, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
            "timings": {"total_s": time.perf_counter() - started},
        }
        store.write_json(folder / store.METRICS, metrics)
        return metrics


def _identity(cfg: RunConfig, suite: str) -> dict[str, Any]:
    """What names a run in its metrics.json, whatever became of it."""
    return {"run_id": cfg.run_id(), "suite": suite, "dataset": cfg.dataset, "remedy": cfg.remedy,
            "seed": cfg.seed}


def record_failure(cfg: RunConfig, out: Path, suite: str, reason: str) -> None:
    """Store `cfg`'s run as failed for a reason seen from outside it (its worker was killed, so it
    could not record anything itself); a checkpoint it left stays, for --retry-failed to resume."""
    folder = store.run_dir(out, suite, cfg.run_id())
    with store.run_lock(folder):
        record = {**_identity(cfg, suite), "status": "failed", "reason": reason}
        store.write_json(folder / store.METRICS, record)


def _write_traces(folder: Path, trainer: Trainer) -> list[Path]:
    """What training recorded so far: the curve, and posterior-mean snapshots if any; their files."""
    written = []
    if trainer.curve:
        written.append(store.write_curve(folder, trainer.curve))
    if trainer.snapshots:
        written.append(store.write_table(folder, store.SNAPSHOTS, trainer.snapshots))
    return written


def describe_model(model: torch.nn.Module) -> dict[str, Any]:
    """Size facts a report needs: parameter count, and the receptive field of a CNN decoder."""
    info: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
    field = getattr(model.decoder, "receptive_field", None)
    if field is not None:
        info["receptive_field"] = field
    return info


def _resume(trainer: Trainer, checkpoint: Path) -> int | None:
    """Continue from the last epoch's checkpoint if there is one that reads whole; its epoch.

    A damaged checkpoint (a partial copy, a dying disk) is deleted and the run
    starts over: half a training state would silently train a different run.
    """
    if not checkpoint.exists():
        return None
    try:
        state = store.load_torch(checkpoint)
    except store.Damaged:
        checkpoint.unlink()
        return None
    trainer.load_state_dict(state)
    return trainer.epoch


def _train(trainer: Trainer, folder: Path, progress: bool, *, fresh: bool) -> float:
    """The epoch loop with a checkpoint at each epoch end; returns training seconds."""
    checkpoint = folder / CHECKPOINT
    if fresh:  # a pretraining stage counts as training time
        started = time.perf_counter()
        trainer.remedy.before_training(trainer)
        trainer.train_seconds += time.perf_counter() - started
    total = trainer.cfg.train.epochs * trainer.steps_per_epoch
    with tqdm(total=total, initial=trainer.step, desc=f"{trainer.cfg.remedy[:40]} seed {trainer.cfg.seed}",
              unit="step", disable=not progress, leave=False) as bar:
        while not trainer.finished:
            started = time.perf_counter()
            trainer.run_epoch(bar)
            trainer.train_seconds += time.perf_counter() - started
            bar.set_postfix(epoch=trainer.epoch, kl=f"{trainer.protocol.history[-1]['kl']:.2f}")
            if not trainer.finished:
                store.save_torch(checkpoint, trainer.state_dict())
    return trainer.train_seconds
