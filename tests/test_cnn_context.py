"""benchmarks/cnn_context.py: how much of each sentence's history each CNN decoder size sees."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pandas as pd
import pytest
from conftest import benchmark_script

from bench.report import pages
from remedies.dilated_cnn import SIZES


@pytest.fixture
def cnn_context() -> Iterator[ModuleType]:
    yield from benchmark_script("cnn_context")


def test_a_target_sees_its_whole_history_while_it_is_inside_the_field(cnn_context):
    # 3 words: 4 targets, all inside a field of 15; 20 words: 21 targets, the first 15 inside
    row = cnn_context.coverage([[1, 2, 3], list(range(20))], 15)
    assert row["targets"] == 25 and row["max_targets"] == 21 and row["mean_targets"] == 12.5
    assert row["share_targets_whole_history"] == pytest.approx((4 + 15) / 25)
    assert row["share_sentences_inside"] == 0.5


def test_one_row_per_size_on_a_suites_evaluation_split(cnn_context, write_suite, tmp_path):
    suite = write_suite('remedies = ["dilated-cnn(size=small)", "none"]\nseeds = [0, 1]')
    csv = tmp_path / "cnn-context.csv"
    assert cnn_context.main([str(suite), "--out", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert table["size"].tolist() == list(SIZES)  # one dataset, read once for all its cells
    assert table["split"].unique().tolist() == ["test"]
    shares = table["share_targets_whole_history"]
    assert shares.is_monotonic_increasing and shares.between(0, 1).all()
    inside = table[table["receptive_field"] >= table["max_targets"]]
    assert (inside["share_targets_whole_history"] == 1).all()
    assert (inside["share_sentences_inside"] == 1).all()


def test_an_unknown_suite_is_one_line_and_exit_2(cnn_context, tmp_path, capsys):
    csv = tmp_path / "cnn-context.csv"
    assert cnn_context.main(["no-such-suite", "--out", str(csv)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not csv.exists()


def test_the_results_page_table_shows_the_field_against_sentence_length(tmp_path):
    csv = tmp_path / "cnn-context.csv"
    pd.DataFrame([{"dataset": "ptb", "split": "test", "size": "small", "receptive_field": 15,
                   "sentences": 3761, "targets": 82430, "mean_targets": 21.917, "max_targets": 78,
                   "share_targets_whole_history": 0.623887, "share_sentences_inside": 0.282638}]
                 ).to_csv(csv, index=False)
    header, _, row = pages.render(csv).strip().splitlines()
    assert "receptive field" in header
    assert row == "| ptb | small | 15 | 21.9 (78) | 0.6239 | 0.2826 |"
