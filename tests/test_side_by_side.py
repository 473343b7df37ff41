"""benchmarks/side_by_side.py: what it refuses before running anything, how it decides each cell
(equivalence within a fixed margin), and how it reports wall time."""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from conftest import BENCHMARKS, benchmark_script

from bench.report import pages
from bench.report.fidelity_tables import (
    DIFFERENT,
    EQUIVALENT,
    IDENTICAL,
    NOT_SHOWN,
    UNTESTED,
    decision_text,
    side_by_side_markdown,
    wall_text,
)

SCRIPT = BENCHMARKS / "side_by_side.py"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def side_by_side() -> Iterator[ModuleType]:
    yield from benchmark_script("side_by_side")


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
    assert side_by_side.wall_seconds(runs) == (150.0, 1)
    texts = [wall_text(side, *side_by_side.wall_seconds(some), len(some))
             for side, some in (("harness", runs), ("harness", runs[2:]), ("authors", runs[:2]))]
    assert texts == ["harness 150 s (1 of 3 found already finished)",
                     "harness - (1 of 1 found already finished)", "authors 150 s"]


def text_of(side_by_side: ModuleType, a: list[float], b: list[float], margin: float) -> str:
    """The decision column's text for one cell of these values."""
    decision = side_by_side.decide(a, b, margin)
    return decision_text(pd.Series({"decision": decision.kind, "tost_p": decision.tost_p,
                                    "welch_p": decision.welch_p, "reason": decision.reason,
                                    "authors_mean": statistics.mean(a), "harness_mean": statistics.mean(b)}))


def test_means_within_the_margin_with_little_spread_are_equivalent(side_by_side: ModuleType) -> None:
    a, b = [0.10, 0.12, 0.11], [0.11, 0.13, 0.12]
    assert side_by_side.decide(a, b, margin=0.5).kind == EQUIVALENT
    assert text_of(side_by_side, a, b, 0.5).startswith("equivalent (TOST p=")


def test_a_large_spread_leaves_equivalence_not_shown_with_welch_p_beside(side_by_side: ModuleType) -> None:
    """Three seeds with an sd of 5 nats cannot show the loss within 1 nat, though no difference is seen."""
    decision = side_by_side.decide([120.0, 125.0, 130.0], [121.0, 126.0, 131.0], margin=1.0)
    assert decision.kind == NOT_SHOWN
    assert decision.welch_p > 0.05
    assert "Welch p=0.8" in text_of(side_by_side, [120.0, 125.0, 130.0], [121.0, 126.0, 131.0], 1.0)


def test_a_difference_welch_detects_is_not_shown_equivalent(side_by_side: ModuleType) -> None:
    """pretrain-fb's padded-batch KL (0.30 vs 1.39 nats): Welch flags it, TOST cannot call it equivalent."""
    decision = side_by_side.decide([1.13, 1.39, 1.65], [0.16, 0.30, 0.44], margin=0.5)
    assert decision.kind == NOT_SHOWN
    assert decision.welch_p < 0.05


def test_equal_constants_are_reported_and_not_counted_as_agreement(side_by_side: ModuleType) -> None:
    assert side_by_side.decide([0, 0, 0], [0, 0, 0], margin=1.0).kind == IDENTICAL
    assert text_of(side_by_side, [0, 0, 0], [0, 0, 0], 1.0) == "constant, identical (0)"


def test_unequal_constants_are_a_difference(side_by_side: ModuleType) -> None:
    """Within the margin or not: constants give TOST no spread, so the difference is simply reported."""
    assert side_by_side.decide([2, 2, 2], [1, 1, 1], margin=1.0).kind == DIFFERENT
    assert text_of(side_by_side, [2, 2, 2], [1, 1, 1], 1.0) == "constant, different (2 vs 1)"


def test_one_seed_a_side_is_not_testable(side_by_side: ModuleType) -> None:
    assert side_by_side.decide([0.1], [0.2], margin=0.5).kind == UNTESTED


def run(side: str, seed: int) -> dict[str, object]:
    """A run whose KL and MI vary little over seeds (sd 0.01 and 0.001 nats), its loss a lot (sd 10 nats),
    its AU not at all."""
    row = {"loss": 120.0 + 10 * seed, "kl": seed / 100, "mi": seed / 1000, "au": 0}
    return {"side": side, "seed": seed, "validation": [row, row], "test": row, "wall_s": 1.0}


@pytest.mark.parametrize("whole_set_mi", [False, True])
def test_every_metric_the_comparison_emits_has_a_margin(side_by_side: ModuleType, whole_set_mi: bool) -> None:
    results = [run(side, seed) for side in ("authors", "harness") for seed in range(3)]
    emitted = {metric for _, metric, _, _ in side_by_side.comparisons(results, whole_set_mi)}
    assert emitted == {"kl", "mi" if whole_set_mi else "mi_batch", "au", "loss"}
    assert emitted <= side_by_side.MARGINS.keys()


def test_the_table_counts_each_kind_and_names_its_margins(side_by_side: ModuleType) -> None:
    """Identical sides: KL and MI shown equivalent, AU 0 vs 0 not counted, the loss (margin 1 nat,
    sd 10 nats) not shown; three rows (two epochs and the test) of each."""
    results = [run(side, seed) for side in ("authors", "harness") for seed in range(3)]
    text = side_by_side_markdown(side_by_side.cells(results, whole_set_mi=False))
    assert ("12 cells: 6 equivalent, 3 not shown equivalent (0 of them with Welch p < 0.05), 3 constant and "
            "identical on both sides (not counted as agreement), 0 constant and different.") in text
    assert "margins kl 0.5, mi_batch 0.1, au 1, loss 1" in text


def test_the_seed_rule_is_stated_and_an_extended_comparison_named(side_by_side: ModuleType) -> None:
    assert "forbids adding seeds after looking" in side_by_side.seed_rule(3, None)
    assert "adds seeds to a 6-seed comparison" in side_by_side.seed_rule(10, 6)
    assert "adds seeds" not in side_by_side.seed_rule(3, 3)


def test_the_margins_in_the_docs_are_the_scripts(side_by_side: ModuleType) -> None:
    """docs/fidelity.md's margin table and MARGINS must not drift apart: the doc is where they are fixed."""
    doc = (SCRIPT.parents[1] / "docs" / "fidelity.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `(\w+)` \| ([\d.]+) ", doc, flags=re.MULTILINE))
    assert {metric: float(value) for metric, value in documented.items()} == side_by_side.MARGINS


def test_main_prints_the_decisions_and_the_seed_rule_and_records_the_margins(
        side_by_side: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.py").write_text("parser.add_argument('--kl_start', type=float, default=1.0)\n")
    monkeypatch.setattr(side_by_side, "run_authors", lambda setting, seed, args: run("authors", seed))
    monkeypatch.setattr(side_by_side, "run_harness", lambda setting, seed, args: run("harness", seed))
    monkeypatch.setattr(side_by_side, "Parallel", lambda **_: lambda calls: [f(*a, **k) for f, a, k in calls])
    record, cells = tmp_path / "vanilla.json", tmp_path / "vanilla-0.5.side-by-side.csv"  # a dot, as beta-0.1
    monkeypatch.setattr(sys, "argv", ["side_by_side.py", "vanilla", "--repo", str(tmp_path), "--data-dir",
                                      str(tmp_path), "--seeds", "3", "--json", str(record),
                                      "--csv", str(cells)])
    side_by_side.main()
    out = capsys.readouterr().out
    assert "| valid epoch 1 | au | 0.00 ± 0.00 | 0.00 ± 0.00 | constant, identical (0) |" in out
    assert "12 cells: 6 equivalent" in out
    assert "Seeds: 3 a side, fixed before the runs" in out
    assert json.loads(record.read_text())["margins"] == side_by_side.MARGINS
    assert pages.render(cells) in out, "a page's block drawn from --csv says what the script printed"



def shared_options(**changes: object) -> argparse.Namespace:
    """The options `settings` reads, at the script's defaults but for `changes`."""
    return argparse.Namespace(**{"warm_up": 10, "pretrain_epochs": 5, "target_kl": 8.0, "beta": 0.4,
                                 "gamma": 0.5, "epochs": 2, "cycle": 2, "cycle_warmup": 1, "keep": 0.5,
                                 "anneal_steps": 126, **changes})


def test_beta_runs_text_beta_at_the_asked_weight_against_the_beta_remedy(side_by_side: ModuleType) -> None:
    setting = side_by_side.settings(shared_options(beta=0.1))["beta"]
    assert setting.remedy == "beta(beta=0.1)"
    assert setting.whole_set_mi  # text_beta.py prints Li et al.'s whole-set MI
    assert side_by_side.authors_argv(setting, "cbside", 2, Path("exp")) == [
        "text_beta.py", "--dataset", "cbside", "--seed", "2", "--exp_dir", str(Path("exp") / "vae"),
        "--beta", "0.1"]


def test_bn_vae_passes_gamma_to_their_fork_and_the_remedy(side_by_side: ModuleType) -> None:
    """Their --gamma defaults to 0 (no BatchNorm), so it is always given; the rest are their defaults."""
    setting = side_by_side.settings(shared_options(gamma=0.7))["bn-vae"]
    assert setting.remedy == "bn-vae(gamma=0.7)"
    assert side_by_side.authors_argv(setting, "cbside", 0, Path("exp"))[:1] == ["text_anneal_fb.py"]
    assert side_by_side.authors_argv(setting, "cbside", 0, Path("exp"))[-2:] == ["--gamma", "0.7"]


def test_he_et_al_take_the_seed_as_a_task_id(side_by_side: ModuleType) -> None:
    setting = side_by_side.settings(shared_options())["vanilla"]
    assert side_by_side.authors_argv(setting, "cbside", 4, Path("exp")) == [
        "text.py", "--dataset", "cbside", "--taskid", "4", "--kl_start", "1.0"]


def test_the_loss_read_from_text_beta_is_the_negative_elbo_not_its_beta_weighted_loss(
        side_by_side: ModuleType) -> None:
    """A fixture in text_beta.py's format: VAL and final TEST rows with their AU lines; the epoch-0
    TEST row, which has no AU line, is not taken for the final test."""
    parsed = side_by_side.parse_log((FIXTURES / "text_beta.log").read_text().splitlines())
    assert [row["loss"] for row in parsed["validation"]] == [130.1, 125.2]  # nll, not avg_loss
    assert [row["au"] for row in parsed["validation"]] == [2, 1]
    assert parsed["test"] == {"loss": 124.7, "kl": 0.2, "mi": 0.04, "rec": 124.5, "au": 1}


def refusal(side_by_side: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            argv: list[str]) -> str:
    """main's error for `argv`, checked to come before any run."""
    ran: list[object] = []
    monkeypatch.setattr(side_by_side, "Parallel", lambda **_: ran.append)
    monkeypatch.setattr(sys, "argv", ["side_by_side.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        side_by_side.main()
    assert exit_info.value.code == 2
    assert ran == []
    return capsys.readouterr().err


def test_bn_vae_on_a_checkout_without_gamma_is_refused_before_any_run(
        side_by_side: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Li et al.'s text_anneal_fb.py has no --gamma: given their checkout for bn-vae, say so at once."""
    (tmp_path / "text_anneal_fb.py").write_text('parser.add_argument("--fb", type=int, default=0)\n')
    err = refusal(side_by_side, monkeypatch, capsys,
                  ["bn-vae", "--repo", str(tmp_path), "--data-dir", str(tmp_path)])
    assert "takes no --gamma" in err


def test_a_beta_the_remedy_refuses_is_refused_before_any_run(
        side_by_side: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text_beta.py").write_text("parser.add_argument('--beta', type=float, default=1.0)\n")
    err = refusal(side_by_side, monkeypatch, capsys,
                  ["beta", "--beta", "1.5", "--repo", str(tmp_path), "--data-dir", str(tmp_path)])
    assert "beta must be in [0, 1], got 1.5" in err


def test_authors_runs_are_reused_only_at_the_same_beta(
        side_by_side: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An earlier --json from before --beta existed counts as the default; another beta is refused."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--beta", type=float, default=0.4)
    args = argparse.Namespace(setting="beta", beta=0.4, seeds=3, authors_from=str(tmp_path / "old.json"))
    earlier = {"setting": "beta", "config": {"setting": "beta"},
               "runs": [run("authors", 0), run("harness", 0)]}
    (tmp_path / "old.json").write_text(json.dumps(earlier))
    assert [r["side"] for r in side_by_side.earlier_authors_runs(args, parser)] == ["authors"]
    (tmp_path / "old.json").write_text(json.dumps({**earlier, "config": {"setting": "beta", "beta": 0.2}}))
    with pytest.raises(SystemExit):
        side_by_side.earlier_authors_runs(args, parser)
    assert "beta differ" in capsys.readouterr().err


def test_cyclical_runs_their_cycle_and_warm_up_as_the_harness_cycles(side_by_side: ModuleType) -> None:
    """4 epochs in cycles of 2 with a 1-epoch ramp: 2 cycles at R = 0.5; Adam at 1e-3 and no lr halving
    on the harness's side, as their script."""
    setting = side_by_side.settings(shared_options(epochs=4))["cyclical"]
    assert setting.authors_args == ("--cycle", "2", "--warmup", "1")
    assert setting.remedy == "cyclical(cycles=2,ratio=0.5)"
    assert setting.harness_set == ("train.optimizer=adam", "train.lr=0.001", "train.decay_after_epoch=4")
    side_by_side.parse_remedy(setting.remedy)


def test_word_dropout_anneals_on_the_harness_as_their_logistic_does(side_by_side: ModuleType) -> None:
    """Their weight 1 / (1 + exp(-k (step - x0))) at k = 12.5 / 126, x0 = 63 and the harness's logistic
    warm-up over 126 steps differ by at most 0.2% of the weight at every step of 4 epochs of 63."""
    from remedies.base import Horizon

    setting = side_by_side.settings(shared_options(keep=0.75))["word-dropout"]
    args = dict(zip(setting.authors_args[::2], setting.authors_args[1::2], strict=True))
    assert args["--word_dropout"] == "0.25"
    remedy = side_by_side.parse_remedy(setting.remedy)
    horizon = Horizon(steps_per_epoch=63, epochs=4)
    k, x0 = float(args["--k"]), int(args["--x0"])
    gaps = [abs(remedy.kl_weight(step, horizon) - 1 / (1 + math.exp(-k * (step - x0))))
            for step in range(252)]
    assert max(gaps) < 0.002
    assert "train.batching=padded" in setting.harness_set and "model.dropout_out=0" in setting.harness_set


def test_the_harness_takes_the_authors_protocol_and_the_users_set_after_it(
        side_by_side: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.single_run

    seen: dict[str, object] = {}

    def resolve(dataset: str, remedy: str, seed: int, overrides: dict[str, object]) -> None:
        seen.update(overrides)
        raise StopIteration

    monkeypatch.setattr(bench.single_run, "resolve", resolve)
    setting = side_by_side.settings(shared_options(epochs=4))["cyclical"]
    args = argparse.Namespace(nz=2, hidden=50, batch=16, epochs=4, iw_samples=10, train_limit=1000,
                              set=["train.lr=0.002"], data_dir="data", out="out")
    with pytest.raises(StopIteration):
        side_by_side.run_harness(setting, 0, args)
    protocol = (seen["train.optimizer"], seen["train.lr"], seen["train.decay_after_epoch"])
    assert protocol == ("adam", "0.002", "4")


@pytest.mark.parametrize(("argv", "message"), [
    (["cyclical", "--epochs", "3", "--cycle", "2"], "must be whole cycles of --cycle 2 epochs"),
    (["cyclical", "--epochs", "4", "--cycle", "2", "--cycle-warmup", "3"], "--cycle-warmup 3 within one"),
    (["word-dropout", "--anneal-steps", "125"], "--anneal-steps 125 must be even"),
    (["beta", "--cycle", "0"], "--cycle: must be > 0, got 0"),
])
def test_schedules_their_scripts_cannot_express_are_refused_before_any_run(
        side_by_side: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    """Fu et al.'s cycle and warm-up are whole epochs of a whole number of cycles; Sentence-VAE's x0 is an
    integer, half the harness's warm-up."""
    assert message in refusal(side_by_side, monkeypatch, capsys,
                              [*argv, "--repo", str(tmp_path), "--data-dir", str(tmp_path)])


def test_metrics_the_authors_do_not_print_are_named_and_not_compared(side_by_side: ModuleType) -> None:
    """Fu et al.'s and Sentence-VAE's scripts print KL and the loss only."""
    def printed(row: dict[str, float]) -> dict[str, float]:
        return {"loss": row["loss"], "kl": row["kl"]}

    results = [run(side, seed) for side in ("authors", "harness") for seed in range(3)]
    for result in results[:3]:
        result.update(validation=[printed(row) for row in result["validation"]], test=printed(result["test"]))
    text = side_by_side_markdown(side_by_side.cells(results, whole_set_mi=True))
    assert "6 cells: 3 equivalent, 3 not shown equivalent" in text
    assert "margins kl 0.5, loss 1" in text
    assert "Not compared: mi, au (the authors' script prints none)." in text
