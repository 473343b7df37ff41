"""Training curves to TensorBoard or MLflow while a run trains: opt-in, never part of a run's identity.

The trainer feeds one `Tracker` at two spots: every training step's curve row
(KL weight, rec, KL, ELBO; MI and AU every `train.diag_every` steps) and every
epoch's validation row (loss, rec, KL, MI, AU, lr); the run adds the test
metrics when it finishes. Which trackers a run feeds is chosen on the command
line (`--log-to`), never in the config, so logging cannot change a run id.

Curves are named `train/<key>` (x axis: step), `valid/<key>` (x axis: epoch)
and `test/<key>`. A tracker that fails mid-run (a tracking server gone) is
switched off with one warning: a lost chart must not cost hours of training.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ConfigError

if TYPE_CHECKING:
    from bench.config import RunConfig

TRACKERS = ("tensorboard", "mlflow")
TENSORBOARD_DIR = "tensorboard"  # beside runs/: OUT/<suite>/tensorboard/<run-id>/
_MLFLOW_BATCH = 900  # metrics per log_batch call; MLflow accepts at most 1000

log = logging.getLogger(__name__)


class Tracker:
    """What the trainer calls; this base class records nothing, so training needs no tracker."""

    def log_step(self, row: Mapping[str, Any]) -> None:
        """After each training step, with its curve row (`step`, `epoch` and the values)."""

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        """After each epoch's validation, with its row (`epoch` and the values)."""

    def finish(self, metrics: Mapping[str, Any]) -> None:
        """Once, with the run's metrics.json: its test metrics and whether it finished."""

    def close(self) -> None:
        """Flush and release; called once, also when the run was interrupted."""


AXES = ("step", "epoch")  # x axes, not curves


def scalars(row: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The finite numbers of `row` under `prefix/`, without the axis keys."""
    return {
        f"{prefix}/{key}": float(value) for key, value in row.items()
        if key not in AXES and isinstance(value, int | float) and not isinstance(value, bool)
        and math.isfinite(value)
    }


class TensorBoardTracker(Tracker):
    """Event files under `logdir`, read by `tensorboard --logdir OUT/<suite>/tensorboard`."""

    def __init__(self, logdir: Path, config: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(logdir))
        self.writer.add_text("config", f"```\n{json.dumps(config, indent=2, default=list)}\n```")

    def _add(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def log_step(self, row: Mapping[str, Any]) -> None:
        self._add(scalars(row, "train"), int(row["step"]))

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self._add(scalars(row, "valid"), int(row["epoch"]))

    def finish(self, metrics: Mapping[str, Any]) -> None:
        self._add(scalars(metrics.get("test", {}), "test"), 0)

    def close(self) -> None:
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run per run id in the experiment named after the suite, at $MLFLOW_TRACKING_URI.

    The config goes in as parameters and the run id, dataset, remedy and seed
    as tags. A run resumed from its checkpoint continues the MLflow run it
    started (the latest one of its run id that did not finish), instead of
    leaving a dangling one behind. Step metrics are sent in batches.
    """

    def __init__(self, experiment: str, run_name: str, config: Mapping[str, Any]) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        experiment_id = self._experiment(experiment)
        tags = {"run_id": run_name, "dataset": str(config["dataset"]), "remedy": str(config["remedy"]),
                "seed": str(config["seed"])}
        unfinished = self.client.search_runs(
            [experiment_id], filter_string=f"tags.run_id = '{run_name}' and attributes.status != 'FINISHED'",
            max_results=1, order_by=["attributes.start_time DESC"],
        )
        if unfinished:
            self.run = unfinished[0].info.run_id
            self.client.update_run(self.run, status="RUNNING")
        else:
            self.run = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
            self._log_params(config)
        self.pending: list[Any] = []
        self.status = "KILLED"  # until finish() says otherwise

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:  # another worker created it meanwhile
            return self.client.get_experiment_by_name(name).experiment_id

    def _log_params(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(key, str(value)) for key, value in _flatten(config).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters per call
            self.client.log_batch(self.run, params=params[start:start + 100])

    def _queue(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(key, value, now, step) for key, value in values.items()]
        if len(self.pending) >= _MLFLOW_BATCH:
            self._flush()

    def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:_MLFLOW_BATCH], self.pending[_MLFLOW_BATCH:]
            self.client.log_batch(self.run, metrics=batch)

    def log_step(self, row: Mapping[str, Any]) -> None:
        self._queue(scalars(row, "train"), int(row["step"]))

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self._queue(scalars(row, "valid"), int(row["epoch"]))
        self._flush()  # an epoch is the unit a reader waits for

    def finish(self, metrics: Mapping[str, Any]) -> None:
        self._queue(scalars(metrics.get("test", {}), "test"), 0)
        self.status = "FINISHED" if metrics.get("status") == "finished" else "FAILED"

    def close(self) -> None:
        self._flush()
        self.client.set_terminated(self.run, status=self.status)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"model": {"nz": 2}}` -> `{"model.nz": 2}`: the `--set` names."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Fanout(Tracker):
    """Several trackers as one; one that raises, starting or later, is dropped with a warning and the
    run goes on."""

    def __init__(self) -> None:
        self.trackers: list[tuple[str, Tracker]] = []

    def start(self, name: str, make: Callable[[], Tracker]) -> None:
        try:
            self.trackers.append((name, make()))
        except Exception as exc:  # a tracking backend's failure must not fail the run
            _warn(name, exc)

    def _each(self, method: str, *args: Any) -> None:
        for name, tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:
                _warn(name, exc)
                self.trackers.remove((name, tracker))

    def log_step(self, row: Mapping[str, Any]) -> None:
        self._each("log_step", row)

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self._each("log_epoch", row)

    def finish(self, metrics: Mapping[str, Any]) -> None:
        self._each("finish", metrics)

    def close(self) -> None:
        self._each("close")


def _warn(name: str, exc: Exception) -> None:
    log.warning("--log-to %s stopped (%s: %s); the run goes on without it", name, type(exc).__name__, exc)


def check_trackers(names: Sequence[str]) -> None:
    """Raise ConfigError, before any work, for a tracker that is unknown, not installed, or whose
    MLflow tracking store cannot be opened (e.g. a file store MLflow refuses)."""
    for name in names:  # each tracker's module and extra are named as it is
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker '{name}': use one of {', '.join(TRACKERS)}")
        if importlib.util.find_spec(name) is None:
            raise ConfigError(
                f"--log-to {name} needs the {name} package: pip install 'collapse-bench[{name}]'"
            )
    if "mlflow" in names:
        from mlflow.tracking import MlflowClient

        try:
            MlflowClient()
        except Exception as exc:  # MLflow raises its own exception types, and ImportErrors for a store
            import mlflow

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"--log-to mlflow cannot open the tracking store {mlflow.get_tracking_uri()} "
                              f"(set MLFLOW_TRACKING_URI; docs/tracking.md): {first}") from None


@contextlib.contextmanager
def opened(names: Sequence[str], cfg: RunConfig, suite: str, suite_dir: Path) -> Iterator[Tracker]:
    """The trackers `names` for `cfg`'s run in `suite` (stored under `suite_dir`), closed on the way out
    whatever happens; one that cannot start is left out with a warning, as one that fails later."""
    if not names:
        yield Tracker()
        return
    config, run_id = cfg.to_dict(), cfg.run_id()
    starters = {
        "tensorboard": lambda: TensorBoardTracker(suite_dir / TENSORBOARD_DIR / run_id, config),
        "mlflow": lambda: MLflowTracker(suite, run_id, config),
    }
    fanout = Fanout()
    for name in names:
        fanout.start(name, starters[name])
    try:
        yield fanout
    finally:
        fanout.close()
