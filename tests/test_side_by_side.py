"""benchmarks/side_by_side.py: what it refuses before running anything, and how it reports wall time."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "side_by_side.py"


@pytest.fixture(scope="module")
def side_by_side() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("side_by_side", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_more_seeds_than_he_et_al_have_is_refused_before_any_run(
        side_by_side: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """text.py takes its seed from a list of 10 by --taskid: an 11th seed would silently repeat the first."""
    (tmp_path / "text.py").write_text("")
    ran: list[object] = []
    monkeypatch.setattr(side_by_side, "Parallel", lambda **_: ran.append)
    monkeypatch.setattr(sys, "argv", ["side_by_side.py", "aggressive", "--repo", str(tmp_path),
                                      "--data-dir", str(tmp_path), "--seeds", "11"])
    with pytest.raises(SystemExit) as exit_info:
        side_by_side.main()
    assert exit_info.value.code == 2
    assert "has 10 seeds" in capsys.readouterr().err
    assert ran == []


def test_wall_time_leaves_out_runs_found_finished(side_by_side: ModuleType) -> None:
    runs = [{"wall_s": 200.0}, {"wall_s": 100.0}, {"wall_s": 0.1, "reused": True}]
    assert side_by_side.wall("harness", runs) == "harness 150 s (1 of 3 found already finished)"
    assert side_by_side.wall("harness", runs[2:]) == "harness - (1 of 1 found already finished)"
    assert side_by_side.wall("authors", runs[:2]) == "authors 150 s"
