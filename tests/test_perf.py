"""benchmarks/perf.py's before/after mode on fixed numbers: which runs it alternates, the medians and
speed-up it reports, and the tables it writes (no measurement runs here)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from conftest import BENCHMARKS, benchmark_script

from bench.report import pages


@pytest.fixture(scope="module")
def perf() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))  # its sibling ceilings.py, importable as when it runs
    try:
        yield from benchmark_script("perf")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_before_and_after_alternate_and_report_medians(perf: ModuleType, monkeypatch) -> None:
    calls: list[str] = []
    values = iter([4.0, 8.0, 2.0, 9.0, 5.0, 7.0])  # before, after, before, after, ...

    def fake(name: str, args: argparse.Namespace, source: Path | None = None) -> dict:
        calls.append("before" if source else "after")
        return {"name": name, "size": "suite", "iw_sent_s": next(values)}

    monkeypatch.setattr(perf, "measure_in_child", fake)
    args = argparse.Namespace(pairs=3, before="HEAD~1")
    row = perf.before_and_after("iw-suite-fp32", args, Path("worktree"))
    assert calls == ["before", "after"] * 3
    assert (row["before"], row["iw_sent_s"]) == (4.0, 8.0)  # the medians of 4, 2, 5 and of 8, 9, 7
    assert row["speedup_over_before"] == pytest.approx(2.0)
    assert row["before_all"] == [4.0, 2.0, 5.0] and row["before_revision"] == "HEAD~1"


def test_a_time_speeds_up_when_it_falls(perf: ModuleType, monkeypatch) -> None:
    values = iter([10.0, 4.0])
    monkeypatch.setattr(perf, "measure_in_child", lambda name, args, source=None: {
        "name": name, "size": "small", "mi_au_s": next(values)})
    row = perf.before_and_after("miau-small-fp32", argparse.Namespace(pairs=1, before="v1"), Path("w"))
    assert row["speedup_over_before"] == pytest.approx(2.5)


def test_the_table_names_the_revision_and_shows_both_sides(perf: ModuleType) -> None:
    row = {"name": "iw-suite-fp32", "size": "suite", "iw_sent_s": 8.0, "peak_rss_mb": 686.0, "speedup": None,
           "before": 4.07, "speedup_over_before": 1.96}
    machine = {"cpu": "a CPU", "amx_bf16": True, "avx512_bf16": True, "torch": "2.13.0"}
    results = {"machine": machine, "threads": 1, "quick": False, "before": "HEAD~1", "measurements": [row]}
    table = perf.markdown(results)
    assert "before (HEAD~1), median | speed-up over before |" in table
    assert "| iw-suite-fp32 | 8.00 sent/s |" in table and "| 4.07 sent/s | 1.96x |" in table


def test_a_measurement_without_a_reference_figure_has_no_speedup(perf: ModuleType) -> None:
    assert perf.speedup({"name": "epoch-suite-fp32", "size": "suite", "epoch_s": 9.0}) is None
    assert perf.speedup({"name": "iw-small-fp32", "size": "small", "iw_sent_s": 11.5}) == pytest.approx(2.0)


def test_the_bounds_csv_says_how_far_under_each_flop_bound_a_row_ran(perf: ModuleType, tmp_path) -> None:
    machine = {"cpu": "a CPU", "amx_bf16": False, "torch": "2.13.0"}
    iw = {"name": "iw-suite-fp32", "iw_sent_s": 7.0, "peak_rss_mb": 660.0, "ceiling_kernels": 8.5,
          "ceiling_output_layer": 8.9, "ceiling_matmul": 11.9, "ceiling_output_flops": 14.0}
    aggressive = {"name": "aggressive-small-fp32", "aggressive_epoch_s": 100.0, "peak_rss_mb": 550.0,
                  "ceiling_kernels": 67.0, "ceiling_output_layer": 47.0}
    results = {"machine": machine, "threads": 1, "measurements": [iw, aggressive]}
    table = perf.bounds_table(results, "2026-12-07")
    first, second = table.to_dict("records")
    assert first["times_matmul_flop_bound"] == pytest.approx(1.7)
    assert first["times_output_layer_flop_bound"] == pytest.approx(2.0)
    assert (first["unit"], first["threads"], first["measured_on"]) == ("sent/s", 1, "2026-12-07")
    assert second["unit"] == "s" and math.isnan(second["times_matmul_flop_bound"])  # no FLOP bound for a time

    table.to_csv(tmp_path / "perf.csv", index=False)
    rendered = pages.render(tmp_path / "perf.csv")
    assert ("| iw-suite-fp32 | a CPU, 1 thread(s), 2026-12-07 | 7.00 sent/s | 8.50 sent/s (8.90 sent/s) |"
            in rendered)
    assert "| 11.90 sent/s | 14.00 sent/s | 1.70x / 2.00x |" in rendered
    assert "| 100.00 s | 67.00 s (47.00 s) | — | — | — / — |" in rendered


def test_the_bounds_csv_carries_before_and_after_when_measured_so(perf: ModuleType, tmp_path) -> None:
    machine = {"cpu": "a CPU", "amx_bf16": False, "torch": "2.13.0"}
    epoch = {"name": "epoch-suite-fp32", "epoch_s": 5.0, "peak_rss_mb": 650.0, "before": 6.8,
             "before_revision": "b00bf07", "speedup_over_before": 1.36}
    results = {"machine": machine, "threads": 1, "measurements": [epoch]}
    table = perf.bounds_table(results, "2026-12-07")
    assert table.loc[0, "before"] == 6.8 and table.loc[0, "speedup_over_before"] == 1.36
    table.to_csv(tmp_path / "perf.csv", index=False)
    rendered = pages.render(tmp_path / "perf.csv")
    assert "| before: median (revision) | measured: median | speed-up over before |" in rendered
    row = "| epoch-suite-fp32 | a CPU, 1 thread(s), 2026-12-07 | 6.80 s (b00bf07) | 5.00 s | 1.36x | — (—) |"
    assert row in rendered


def test_the_reference_figures_are_the_midpoints_of_the_ranges_the_docs_page_shows(perf: ModuleType,
                                                                                   tmp_path) -> None:
    figures = tmp_path / "reference-figures.csv"
    figures.write_text("metric,work,size,low,high,unit,note\n"
                       "train_tok_s,training,small,25000,33000,tok/s,\n"
                       "iw_sent_s,IW NLL,large,0.9,1.0,sent/s,one at a time\n")
    assert perf.reference_midpoints(figures) == {"train_tok_s": {"small": 29_000.0},
                                                 "iw_sent_s": {"large": pytest.approx(0.95)}}
    rendered = pages.render(figures)
    assert "| training | 25,000-33,000 tok/s | — |" in rendered
    assert "| IW NLL | — | 0.9-1 sent/s (one at a time) |" in rendered
    assert perf.REFERENCE["train_tok_s"]["small"] == 29_000  # the committed file's midpoint


def test_the_cell_row_runs_one_verdict_cell_of_ptb_small_alone(perf: ModuleType, monkeypatch) -> None:
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(perf, "_run_seconds", lambda *arguments: commands.append(arguments) or 600.0)
    assert perf.measure_cell("suite", "fp32", "DATA", quick=False) == {"cell_s": 600.0}
    assert commands == [("ptb-small", "--only", "remedy=aggressive+*", "--only", "seed=0",
                         "--data-dir", "DATA")]
    assert perf.METRIC["cell"] == ("cell_s", "s", False)  # a time: lower is better


def test_the_slice_row_runs_seed_0_of_the_whole_ptb_small_suite(perf: ModuleType, monkeypatch) -> None:
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(perf, "_run_seconds", lambda *arguments: commands.append(arguments) or 1500.0)
    assert perf.measure_slice("suite", "fp32", None, quick=False) == {"slice_s": 1500.0}
    assert commands == [("ptb-small", "--only", "seed=0")]
    assert perf.METRIC["slice"] == ("slice_s", "s", False)
    assert perf.SLICE not in perf.MEASUREMENTS  # 25 minutes: only when named
