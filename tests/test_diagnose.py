"""Diagnosis of a run (bench/diagnosis.py): one kind per fixed set of numbers, the collapse onset of fixed
curves, the report's Diagnosis section and leaderboard column, and `collapse-bench diagnose`."""

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from bench import store
from bench.cli import cli
from bench.diagnosis import (
    HEALTHY,
    INFERENCE_LAG,
    KINDS,
    KL_WITHOUT_INFORMATION,
    PARTIAL,
    POSTERIOR_COLLAPSE,
    REMEDIES,
    Evidence,
    Samples,
    collapse_onset,
    curve_batch,
    diagnose,
    render_text,
    suggestions,
)
from bench.report.diagnoses import autoencoder_control, diagnosis_markdown, validation_table, with_diagnoses
from bench.report.escape import escapes, mi_null_threshold
from bench.report.figures_gap import gap_curves
from bench.report.figures_styles import remedy_styles
from bench.report.runs_frame import load_run_tables, load_runs
from bench.report.verdict_tables import leaderboard_markdown
from bench.report.verdicts import leaderboard, verdicts, with_escapes
from bench.run_evidence import token_agreement
from bench.single_run import execute, plan_run, resolve
from remedies import registry

# The numbers of stored yelp-short runs (1,000 test sentences, nz = 16: null threshold 0.097).
YELP = {"nz": 16, "n_sentences": 1000, "threshold": 0.097}


def evidence(**numbers) -> Evidence:
    """The numbers with the escape flag the rule gives them, as the callers of `diagnose` pass it."""
    values = {"remedy": "none", "init": "pytorch", **YELP, **numbers}
    return Evidence(**values, escaped=escapes(values["mi"], values["au"], values["threshold"]))


class TestKinds:
    def test_kl_at_the_prior_is_posterior_collapse(self):
        found = diagnose(evidence(kl=0.0012, mi=0.0003, au=0))
        assert found.kind == POSTERIOR_COLLAPSE
        assert "the prior" in found.summary
        assert any("KL(q(z|x) || p(z)) = 0.0012" in line for line in found.numbers)
        assert found.remedies[0][0] == "aggressive+kl-annealing"

    def test_kl_spent_without_mi_is_kl_without_information(self):
        # a dilated-CNN run of yelp-short: KL 0.19, MI 0.022, no active unit
        found = diagnose(evidence(remedy="dilated-cnn(size=small)", kl=0.189, mi=0.022, au=0))
        assert found.kind == KL_WITHOUT_INFORMATION
        assert any(note.startswith("KL above 0 does not mean z is used") for note in found.notes)
        assert "dilated-cnn" not in [spec.split("(")[0] for spec, _ in found.remedies]

    def test_mi_over_the_null_without_an_active_unit_is_not_counted_as_information(self):
        found = diagnose(evidence(kl=0.5, mi=0.2, au=0))
        assert found.kind == KL_WITHOUT_INFORMATION and "AU = 0" in found.summary

    def test_some_units_active_is_partial_collapse(self):
        units = (0.2, 0.001, 0.15)
        found = diagnose(evidence(remedy="aggressive", kl=0.36, mi=0.34, au=7, kl_per_unit=units))
        assert found.kind == PARTIAL and "7 of 16 units" in found.summary
        assert any("u0 0.200, u2 0.150, 1 unit below 0.01 nats" in line for line in found.numbers)

    def test_every_unit_active_is_healthy(self):
        found = diagnose(evidence(remedy="bn-vae", kl=2.1, mi=1.16, au=16))
        assert found.kind == HEALTHY and found.remedies == []
        assert "nothing: z is used" in render_text(found)

    def test_a_gap_on_a_run_that_does_not_escape_is_inference_lag(self):
        found = diagnose(evidence(kl=0.001, mi=0.0, au=0, gap=0.41, gap_sentences=100))
        assert found.kind == INFERENCE_LAG and "0.410 nats per sentence" in found.summary
        assert [spec for spec, _ in found.remedies][:2] == ["aggressive", "aggressive+kl-annealing"]


def test_a_small_gap_is_no_lag_and_a_run_that_escapes_never_lags():
    assert diagnose(evidence(kl=0.001, mi=0.0, au=0, gap=0.09)).kind == POSTERIOR_COLLAPSE
    assert diagnose(evidence(kl=2.1, mi=1.0, au=5, gap=1.8)).kind == PARTIAL


def test_negative_mi_is_explained_against_the_null_threshold():
    found = diagnose(evidence(kl=0.005, mi=-0.0005, au=0))
    [note] = [note for note in found.notes if "below 0" in note]
    assert "-0.0005" in note and "null threshold" in note and "1000 posteriors" in note


def test_the_reference_init_and_the_autoencoder_control_are_named_when_nothing_encodes():
    assert autoencoder_control("beta(beta=0.0)") and not autoencoder_control("beta(beta=0.4)")
    found = diagnose(evidence(remedy="beta(beta=0.0)", control=True, init="reference", kl=0.0, mi=0.0, au=0))
    assert [spec for spec, _ in found.remedies] == ["--set model.init=pytorch"]  # no KL remedy for it
    assert any("autoencoder control" in note for note in found.notes)


def test_every_suggested_remedy_is_a_spec_of_this_harness_and_the_run_own_is_left_out():
    for kind in KINDS:
        for spec, why in REMEDIES[kind]:
            assert registry.parse(spec).spec() and why
    specs = [spec for spec, _ in suggestions(INFERENCE_LAG, "aggressive(check_every=15,max_inner=99)")]
    assert "aggressive" not in specs and "aggressive+kl-annealing" in specs


@pytest.mark.parametrize(("mi", "onset"), [
    ([0.5, 0.4, 0.3, 0.2], None),  # never under 0.1
    ([0.5, 0.05, 0.02, 0.0], 10),
    ([0.5, 0.05, 0.3, 0.01], 30),  # recovered, then collapsed for good
    ([0.05, 0.1, 0.0, -0.01], 0),  # at the threshold counts as under
    ([0.05, 0.02, 0.01, 0.3], None),  # recovered at the end
    ([0.5, math.nan, 0.02, math.nan], 20),  # steps without a measurement are skipped
    ([math.nan] * 4, None),
])
def test_collapse_onset_is_where_mi_stays_at_or_under_the_threshold(mi, onset):
    assert collapse_onset([0, 10, 20, 30], mi, threshold=0.1) == onset


def test_the_curve_batch_is_the_diag_batch_or_the_whole_validation_split():
    assert curve_batch(500, 6348) == 500 and curve_batch(500, 20) == 20 and curve_batch(500, None) == 500


def test_samples_say_whether_the_decoder_or_the_encoder_ignores_z():
    same = Samples(("a b",) * 3, ("x", "y", "z"), ("a b",) * 3, 0.0, 0.0)
    lines = diagnose(evidence(kl=0, mi=0, au=0, samples=same)).numbers
    assert any("the decoder ignores z" in line for line in lines)
    encoder = Samples(("a b", "c", "d e"), ("x", "y", "z"), ("a b",) * 3, 0.0, 0.0)
    lines = diagnose(evidence(kl=0.2, mi=0.0, au=0, samples=encoder)).numbers
    assert any("the encoder, not the decoder" in line for line in lines)
    assert '"x" -> "a b"' in lines


def test_token_agreement_counts_equal_positions_of_the_longer_sentence():
    assert token_agreement([1, 2, 3], [1, 5, 3, 4]) == 0.5
    assert token_agreement([], []) == 1.0 and token_agreement([7], []) == 0.0


# ----------------------------------------------------------------- a stored run

TINY = {"data.synthetic_size": 200, "data.synthetic_vocab": 30, "data.synthetic_length": 5, "model.emb": 8,
        "model.enc_hidden": 8, "model.dec_hidden": 8, "train.epochs": 2, "train.batch_size": 8,
        "eval.iw_samples": 2, "train.threads": 1, "train.diag_every": 5, "train.gap_sentences": 6,
        "train.gap_steps": 3}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    for seed in (0, 1):
        run = resolve("synthetic", "none", seed, TINY)
        assert execute(plan_run(run), out, "tiny")["status"] == "finished"
    return out / "tiny"


@pytest.fixture(scope="module")
def diagnosed(suite):
    runs = with_escapes(load_runs(suite))
    curves = load_run_tables(suite, runs, store.CURVE)
    validation = validation_table(suite, runs)
    return with_diagnoses(runs, curves, validation), curves, validation


def test_the_report_reads_each_runs_onset_gap_and_kind(suite, diagnosed):
    runs, curves, _ = diagnosed
    for _, run in runs.iterrows():
        metrics = store.read_json(suite / "runs" / run["run_id"] / store.METRICS)
        assert run["gap_last"] == metrics["validation"][-1]["amortisation_gap"]
        curve = curves[(curves["run_id"] == run["run_id"]) & curves["mi"].notna()]
        threshold = mi_null_threshold(20, 2)  # the whole validation split: 20 sentences, under diag_batch
        onset = collapse_onset(curve["step"], curve["mi"], threshold)
        assert (math.isnan(run["collapse_onset"]) if onset is None else run["collapse_onset"] == onset)
        assert run["curve_mi"] and run["diagnosis"] in KINDS


def test_the_leaderboard_gets_the_onset_and_a_board_without_it_renders_as_before(suite, diagnosed):
    runs = diagnosed[0]
    board = leaderboard(runs, verdicts(runs, suite))
    assert {"collapse_onset", "curve_collapsed", "curve_runs"} <= set(board)
    assert board["curve_runs"].tolist() == [2]
    assert "collapse onset: median step (runs)" in leaderboard_markdown(board)
    older = board.drop(columns=["collapse_onset", "curve_collapsed", "curve_runs"])  # a committed CSV
    assert "collapse onset" not in leaderboard_markdown(older)


def test_the_diagnosis_section_names_each_remedy_with_its_kind(diagnosed):
    runs = diagnosed[0]
    text = diagnosis_markdown(runs, sorted(runs["remedy_label"].unique()))
    assert text.startswith("## Diagnosis")
    counts = runs["diagnosis"].value_counts()
    assert f"| none | 2 | {', '.join(f'{kind} {counts[kind]}' for kind in KINDS if kind in counts)} |" in text


def test_the_gap_figure_draws_one_line_per_run(diagnosed):
    runs, _, validation = diagnosed
    order = sorted(runs["remedy_label"].unique())
    figure = gap_curves(validation.merge(runs[["run_id", "escaped"]], on="run_id"), order,
                        remedy_styles(order))
    [ax] = figure.figure.axes
    runs_drawn = [line for line in ax.get_lines() if line.get_marker() not in ("None", "", None)]
    assert [len(line.get_xdata()) for line in runs_drawn] == [2, 2]  # a line per run, a point per epoch
    assert "amortisation gap" in ax.get_ylabel()
    assert gap_curves(pd.DataFrame(), order, remedy_styles(order)) is None


def test_diagnose_prints_the_kind_numbers_and_samples(suite):
    folder = next((suite / "runs").iterdir())
    result = CliRunner().invoke(cli, ["diagnose", str(folder), "--samples", "3", "--sentences", "10"])
    assert result.exit_code == 0, result.output
    assert "Diagnosis: " in result.output and "per-unit KL" in result.output
    assert "greedy decodes of 3 codes z ~ N(0, I)" in result.output and "collapse onset: " in result.output


def test_diagnose_json_without_the_model(suite):
    folder = next((suite / "runs").iterdir())
    result = CliRunner().invoke(cli, ["diagnose", str(folder), "--numbers-only", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["kind"] in KINDS and found["evidence"]["samples"] is None
    assert found["evidence"]["gap"] is not None and found["evidence"]["kl_per_unit"] is None


@pytest.mark.parametrize("status", [None, "failed"])
def test_a_bad_run_path_is_one_line_and_exit_2(tmp_path, status):
    folder = tmp_path / "run"
    if status:
        store.write_json(folder / store.CONFIG, {})
        store.write_json(folder / store.METRICS, {"status": status, "reason": "Diverged: nan at step 3"})
    result = CliRunner().invoke(cli, ["diagnose", str(folder)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert ("cannot be diagnosed: it failed: Diverged" if status else "is not a run folder") in lines[0]
