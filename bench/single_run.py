"""One run (`collapse-bench train`, or a cell of a suite) end to end: resolve, check, train, evaluate, store.

A suite (`collapse-bench run`) is many of these; `bench.cells` runs each in a
worker's process, `bench.scheduler` orders them.

`resolve` parses the remedy spec once and lets the remedy `configure` the
run once; the `Resolved` run carries that remedy instance on to training.
`plan_run` does every other check that can fail on user input (the device,
the corpus) and writes nothing; `execute` does the work. A run that raises
(NaN loss, out of memory, a bug in a plugin) is stored with status "failed"
and its reason, and the caller goes on.
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

import bench
from bench import hardware, provenance, store, trackers
from bench.allocator import retain_freed_memory
from bench.config import REMEDY_RECORD, RunConfig, build_config, changed_settings, validate
from bench.data.datasets import Corpus, cached_corpus
from bench.errors import ConfigError
from bench.evaluate import Evaluation, evaluation_indices, score
from bench.models import SentenceVAE
from bench.run_states import RunState
from bench.store import CHECKPOINT
from bench.train import Trainer, autocast
from remedies import registry
from remedies.base import Remedy


@dataclass(frozen=True)
class Resolved:
    """A run with every setting resolved: the config (its hash is the run id), the remedy instance that
    configured it, and the settings that `configure` changed.

    `record()` is the run's config.json: the config, and beside it (not
    hashed) the remedy's parts with their typed parameters and the settings
    it changed, so that the report needs neither the registry nor the plugin.
    """

    config: RunConfig
    remedy: Remedy
    remedy_settings: dict[str, Any]  # section.key -> value

    def run_id(self) -> str:
        return self.config.run_id()

    def record(self) -> dict[str, Any]:
        parts = [part.record() for part in self.remedy.parts()]
        return {**self.config.to_dict(), REMEDY_RECORD: {"parts": parts, "settings": self.remedy_settings}}

    @classmethod
    def from_record(cls, config: RunConfig, record: dict[str, Any]) -> Resolved:
        """The run that `record()` describes, its remedy built afresh from the spec (in a worker process);
        `config` is `RunConfig.from_dict(record)`, which the caller has parsed already."""
        settings = record.get(REMEDY_RECORD, {}).get("settings", {})
        return cls(config, registry.parse(config.remedy), settings)


@dataclass(frozen=True)
class RunPlan:
    """A run that passed every check, with its corpus loaded."""

    run: Resolved
    corpus: Corpus


def resolve(
    dataset: str, remedy_spec: str, seed: int, overrides: dict[str, Any], base: Path | None = None
) -> Resolved:
    """Dataset defaults + overrides + what the remedy configures, validated; relative paths in
    `dataset` start at `base` (default: the working folder)."""
    remedy = registry.parse(remedy_spec)
    plain = build_config(dataset, remedy.spec(), seed, overrides, base)
    cfg = remedy.configure(copy.deepcopy(plain))
    validate(cfg)
    return Resolved(cfg, remedy, changed_settings(plain, cfg))


def plan_run(run: Resolved, data_dir: str | None = None) -> RunPlan:
    """Check the device and load the corpus; raises ConfigError, writes nothing."""
    if run.config.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is visible; use --device cpu")
    refusal = hardware.bf16_refusal(run.config.train.device, run.config.train.precision,
                                    run.config.eval.precision)
    if refusal:
        raise ConfigError(refusal)
    return RunPlan(run=run, corpus=cached_corpus(run.config.data, data_dir))


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "collapse_bench": bench.__version__,
    }


def environment(cfg: RunConfig) -> dict[str, Any]:
    """Where and with what `cfg`'s run (or a re-evaluation of it) ran: recorded, not config, so not in
    the run id."""
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
    folder = store.run_dir(out, suite, plan.run.run_id())
    try:
        with store.run_lock(folder):
            store.remove_partial_writes(folder)
            if store.run_status(folder) is RunState.FINISHED:
                # A kill between writing metrics.json and deleting the checkpoint leaves one behind.
                (folder / CHECKPOINT).unlink(missing_ok=True)
                return {**store.read_json(folder / store.METRICS), "already_finished": True}
            with trackers.opened(log_to, plan.run.config, suite, store.suite_dir(out, suite)) as tracker:
                metrics = _execute(plan, folder, suite, progress, tracker)
                tracker.finish(metrics)
                return metrics
    except store.RunLocked as exc:
        return {"run_id": plan.run.run_id(), "suite": suite, "status": "busy", "reason": str(exc)}


def _execute(
    plan: RunPlan, folder: Path, suite: str, progress: bool, tracker: trackers.Tracker
) -> dict[str, Any]:
    """The run itself, under its lock: train (from the checkpoint if any), evaluate, store."""
    cfg = plan.run.config
    retain_freed_memory()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    store.write_json(folder / store.CONFIG, plan.run.record())
    base: dict[str, Any] = {
        **_identity(cfg, suite), **environment(cfg),
        "data": plan.corpus.source,  # the files read and their sha256: not config, so not in the run id
    }
    started = time.perf_counter()
    trainer: Trainer | None = None
    try:
        trainer = Trainer(cfg, plan.corpus, plan.run.remedy)
        trainer.tracker = tracker
        fit = trainer.fit(folder / CHECKPOINT, progress)
        eval_started = time.perf_counter()
        evaluation = final_evaluation(trainer.model, plan.corpus, cfg, trainer.device, progress)
        test = evaluation.metrics
        eval_seconds = time.perf_counter() - eval_started
        store.save_torch(folder / store.MODEL, trainer.model.state_dict())
        tables = [*_write_traces(folder, trainer),
                  store.write_table(folder, store.PER_SENTENCE, evaluation.sentences)]
        metrics = {
            **base, **fit.fields(), "status": RunState.FINISHED.value, "test": test,
            "model": describe_model(trainer.model),
            "timings": {
                **fit.timings(), "eval_s": eval_seconds, "total_s": time.perf_counter() - started,
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
            **base, "status": RunState.FAILED.value, "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
            "timings": {"total_s": time.perf_counter() - started},
        }
        store.write_json(folder / store.METRICS, metrics)
        return metrics


def final_evaluation(model: SentenceVAE, corpus: Corpus, cfg: RunConfig, device: torch.device,
                     progress: bool = False) -> Evaluation:
    """`cfg.eval`'s evaluation of `model`: on its split, or the seeded subset of it, each sentence
    indexed by its position in the split; at the end of a run and when `collapse-bench evaluate`
    re-scores a stored model."""
    split = corpus.splits[cfg.eval.split]
    positions = evaluation_indices(len(split), cfg.eval.max_sentences, cfg.data.split_seed)
    return score(
        model, [split[i] for i in positions], cfg.eval, seed=cfg.seed, device=device,
        autocast=autocast(cfg.eval.precision, cfg.train.device), progress=progress,
        by_length=cfg.train.by_length, positions=positions,
    )


def _identity(cfg: RunConfig, suite: str) -> dict[str, Any]:
    """What names a run in its metrics.json, whatever became of it."""
    return {"run_id": cfg.run_id(), "suite": suite, "dataset": cfg.dataset, "remedy": cfg.remedy,
            "seed": cfg.seed}


def record_failure(cfg: RunConfig, out: Path, suite: str, reason: str) -> None:
    """Store `cfg`'s run as failed for a reason seen from outside it (its worker was killed, so it
    could not record anything itself); a checkpoint it left stays, for --retry-failed to resume."""
    folder = store.run_dir(out, suite, cfg.run_id())
    with store.run_lock(folder):
        record = {**_identity(cfg, suite), "status": RunState.FAILED.value, "reason": reason}
        store.write_json(folder / store.METRICS, record)


def _write_traces(folder: Path, trainer: Trainer) -> list[Path]:
    """What training recorded so far (the curve, posterior-mean snapshots); the files written."""
    return [store.write_table(folder, stem, rows) for stem, rows in trainer.traces().items() if rows]


def describe_model(model: torch.nn.Module) -> dict[str, Any]:
    """Size facts a report needs: parameter count, and the receptive field of a CNN decoder."""
    info: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
    field = getattr(model.decoder, "receptive_field", None)
    if field is not None:
        info["receptive_field"] = field
    return info
