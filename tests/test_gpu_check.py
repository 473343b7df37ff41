"""benchmarks/gpu_check.py on a machine without a GPU: what it refuses before any work, and each part's
output in a dry run on the CPU (`--device cpu`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from conftest import BENCHMARKS, benchmark_script

TINY = ["--device", "cpu", "--dataset", "synthetic", "--size", "small", "--steps", "3", "--sentences", "2"]


@pytest.fixture(scope="module")
def gpu_check_module() -> Iterator[ModuleType]:
    """The script as a module, its sibling scripts (perf, step_check) importable as when it runs."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield from benchmark_script("gpu_check")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_a_missing_gpu_is_one_line_and_exit_code_2(gpu_check_module: ModuleType,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check_module.main(["--dataset", "synthetic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device" in err[0] and "--device cpu" in err[0]


def test_a_folder_that_is_not_he_et_al_s_checkout_is_refused(gpu_check_module: ModuleType, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check_module.main([*TINY, "--authors-repo", str(tmp_path)]) == 2
    assert "not a checkout of jxhe/vae-lagging-encoder" in capsys.readouterr().err


def test_the_dry_run_reports_training_iw_and_suite_throughput(
        gpu_check_module: ModuleType, write_suite: Callable[..., Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite('remedies = ["none"]')
    markdown = tmp_path / "gpu.md"
    code = gpu_check_module.main([*TINY, "--skip", "tests", "--suite", str(suite), "--jobs", "1",
                                  "--markdown", str(markdown)])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert results["train"]["steps"] == 3 and results["train"]["tok_s"] > 0
    assert results["iw"]["sentences"] == 2 and results["iw"]["k"] == 500 and results["iw"]["sent_s"] > 0
    assert results["suite"]["cells"] == 1 and results["suite"]["returncode"] == 0
    assert "authors" not in results  # no checkout given: the part is left out, not failed
    table = markdown.read_text()
    assert "target tok/s over 3 steps" in table and "1 cells of" in table


def test_pytest_closing_line_becomes_counts(gpu_check_module: ModuleType) -> None:
    counts = gpu_check_module.pytest_counts("2 passed, 1 skipped, 170 deselected in 3.05s")
    assert counts == {"passed": 2, "skipped": 1, "deselected": 170}
