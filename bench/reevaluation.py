"""Re-score a stored run's model with other eval settings (`collapse-bench evaluate`), beside its metrics.

A run's metrics.json is what the run measured when it finished, and stays as
written: its digests, `compare`, the report and the docs read it. Each
re-evaluation gets a folder of its own, `runs/<run-id>/evaluations/<key>/`,
`key` being the hash of the resolved eval settings (as a run id hashes a
config): `evaluation.json` (the settings, what they change, when and where it
ran, the metrics, the table's digest; written last) and its per-sentence
table. The same settings again find that folder and do no work. Only the eval
section may change: other settings would make another model, which is
another run (`collapse-bench train`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from bench import hardware, store
from bench.config import RunConfig, set_value, validate
from bench.data.datasets import Corpus, cached_corpus
from bench.errors import ConfigError
from bench.models import SentenceVAE
from bench.sampling import load_run
from bench.single_run import environment, final_evaluation

EVAL = "eval."


@dataclass(frozen=True)
class Reevaluation:
    """A checked re-evaluation: the run, its config with the eval overrides (and the device) applied,
    what differs from the run's own evaluation, and the hash of the eval settings."""

    run: Path
    config: RunConfig
    changed: dict[str, Any]  # eval.<key> -> value, where it differs from the run's own
    key: str

    @property
    def folder(self) -> Path:
        return store.evaluation_dir(self.run, self.key)


@dataclass(frozen=True)
class Outcome:
    """What `reevaluate` found or did: the record (its "test" holds the metrics), the file holding it,
    whether it was stored before, and why a stored one was replaced ('' when none was)."""

    record: dict[str, Any]
    path: Path
    reused: bool
    replaced: str = ""


def plan_reevaluation(run: Path, overrides: dict[str, str], device: str | None = None) -> Reevaluation:
    """Check the run folder and the `--set` overrides; raises ConfigError, writes nothing."""
    for key in overrides:
        if not key.startswith(EVAL):
            raise ConfigError(
                f"evaluate changes eval settings only, got '{key}': another {key.split('.')[0]} setting "
                "makes another model, which is another run (collapse-bench train)"
            )
    run = Path(run)
    store.require_finished(run, "evaluated")
    cfg = RunConfig.from_dict(store.read_json(run / store.CONFIG))
    own = cfg.to_dict()["eval"]
    for key, value in overrides.items():
        set_value(cfg, key, value)
    if device:
        cfg.train.device = device
    validate(cfg)
    if cfg.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run {run.name} trained on '{cfg.train.device}' but no CUDA device is visible; "
                          "use --device cpu")
    refusal = hardware.bf16_refusal(cfg.train.device, cfg.eval.precision)
    if refusal:
        raise ConfigError(refusal)
    settings = cfg.to_dict()["eval"]
    changed = {f"{EVAL}{key}": value for key, value in settings.items() if own.get(key) != value}
    return Reevaluation(run, cfg, changed, settings_key(settings))


def settings_key(settings: dict[str, Any]) -> str:
    """Short hash of resolved eval settings (`RunConfig.to_dict()["eval"]`), as a run id is of a config."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:12]


def reevaluate(plan: Reevaluation, data_dir: str | None = None, progress: bool = False) -> Outcome:
    """The evaluation `plan` asks for: the stored one when there is one, else a new one, stored.

    The run's own settings are answered by its metrics.json when the run has
    its per-sentence table; a run stored before that table existed is
    evaluated again, into evaluations/<key>/, which gives it one. A stored
    re-evaluation that does not read whole is done again.
    """
    if not plan.changed and store.read_table(plan.run, store.PER_SENTENCE) is not None:
        return Outcome(store.read_json(plan.run / store.METRICS), plan.run / store.METRICS, reused=True)
    replaced = ""
    try:
        record = store.read_evaluation(plan.folder)
    except store.Damaged as exc:
        record, replaced = None, str(exc)
    if record is not None:
        return Outcome(record, plan.folder / store.EVALUATION, reused=True)
    loaded = load_run(plan.run, data_dir)  # before the lock: a data error leaves no folder behind
    corpus = cached_corpus(plan.config.data, data_dir)
    try:
        with store.run_lock(plan.folder):
            store.remove_partial_writes(plan.folder)
            record = _evaluate_into(plan, loaded.model, corpus, progress)
    except store.RunLocked as exc:
        raise ConfigError(f"{exc}: the same evaluation is running; try again when it ends") from None
    return Outcome(record, plan.folder / store.EVALUATION, reused=False, replaced=replaced)


def _evaluate_into(plan: Reevaluation, model: SentenceVAE, corpus: Corpus, progress: bool) -> dict[str, Any]:
    """Evaluate under the evaluation's lock and store the table, then the record (last)."""
    cfg = plan.config
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = torch.device(cfg.train.device)
    started = time.perf_counter()
    evaluation = final_evaluation(model.to(device), corpus, cfg, device, progress)
    test = evaluation.metrics
    timings = {"eval_s": time.perf_counter() - started, **test.pop("timings")}
    table = store.write_table(plan.folder, store.PER_SENTENCE, evaluation.sentences)
    record = {
        "run_id": plan.run.name, "key": plan.key, "eval": cfg.to_dict()["eval"], "changed": plan.changed,
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(cfg), "test": test, "timings": timings,
        "files": store.digests(plan.folder, [table.name]),
    }
    store.write_json(plan.folder / store.EVALUATION, record)
    return record
