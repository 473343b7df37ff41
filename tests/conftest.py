"""Shared fixtures: tiny suite files that train in about a second per cell."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from bench import hardware, store
from bench.train import Trainer

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# bf16 autocast runs the LSTMs through oneDNN's bf16 kernels, which need AVX-512 (an AVX2-only CPU
# fails at the first call); the run itself refuses bf16 there (tests/test_train.py).
needs_bf16_lstm = pytest.mark.skipif(not hardware.cpu_runs_bf16_lstm(),
                                     reason="this CPU cannot run an LSTM in bf16 (oneDNN needs AVX-512)")


def benchmark_script(name: str) -> Iterator[ModuleType]:
    """benchmarks/<name>.py imported as a module for the length of a fixture (the scripts are not a
    package); registered in sys.modules meanwhile, where its dataclasses look their module up."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


# Top-level keys and tables that make every cell tiny; a test adds the rest.
TINY_DATA = 'datasets = [{ name = "synthetic", data.synthetic_size = 200 }]'
TINY_TABLES = """
[train]
epochs = 2
diag_every = 0
threads = 1  # two threads on a shared 2-core machine can be ten times slower, not faster

[eval]
iw_samples = 5
"""


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write `<name>.toml` under tmp_path: `top` (top-level keys), the tiny settings, then `tables`.

    For example `write_suite('remedies = ["none"]', tables="[[extra]]\\nseeds = [1]")`.
    """

    def write(top: str, tables: str = "", name: str = "tiny") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(f'name = "{name}"\n{top}\n{TINY_DATA}\n{TINY_TABLES}\n{tables}\n')
        return path

    return write


def write_distribution(site: Path, name: str, entry_points: dict[str, dict[str, str]]) -> None:
    """A minimal installed distribution under `site`: what `pip install` leaves for importlib.metadata.

    `entry_points` maps a group (collapse_bench.remedies, collapse_bench.datasets) to name = value.
    """
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    groups = "".join(f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
                     for group, points in entry_points.items())
    (info / "entry_points.txt").write_text(groups)


def stop_in_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int,
                  stop: Callable[[], None] | None = None) -> Callable[[], None]:
    """Make training call `stop` (default: Ctrl-C) when it reaches `epoch`, after the checkpoint
    of the epoch before; returns what puts training back, leaving the test's other patches alone."""
    run_epoch = Trainer.run_epoch

    def stopping(self: Trainer, progress: object = None) -> None:
        if self.epoch == epoch:
            (stop or ctrl_c)()
        run_epoch(self, progress)

    monkeypatch.setattr(Trainer, "run_epoch", stopping)
    return lambda: monkeypatch.setattr(Trainer, "run_epoch", run_epoch)


def ctrl_c() -> None:
    raise KeyboardInterrupt


def as_before_the_per_sentence_table(folder: Path) -> dict:
    """Make a finished run what one stored before per-sentence tables holds: no table, no digest of one.
    Returns its metrics.json as rewritten."""
    for path in folder.glob(f"{store.PER_SENTENCE}.*"):
        path.unlink()
    metrics = json.loads((folder / store.METRICS).read_text())
    metrics["files"] = {name: digest for name, digest in metrics["files"].items()
                        if not name.startswith(store.PER_SENTENCE)}
    store.write_json(folder / store.METRICS, metrics)
    return metrics
