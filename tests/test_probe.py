"""The sentiment probe: known answers for its classifiers, the command end to end, the report's column.

The end-to-end store is one tiny VAE trained on a generated yelp-short data
folder (the label is the file, a sentiment word decides it) plus one labelled
run that has not finished, so every count of the command's summary is seen.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import store
from bench.cli import cli
from bench.errors import ConfigError
from bench.models import build_model
from bench.probe import (
    PROBE,
    Scores,
    bag_of_words,
    bow_scores,
    chance_scores,
    probe_run,
    probe_scores,
    require_sklearn,
    scores,
    whitened,
)
from bench.report import build_report
from bench.report.runs_frame import load_runs
from bench.report.summaries import METRICS, reported_metrics
from bench.single_run import resolve

TINY = {
    "train.epochs": 1,
    "model.nz": 4,
    "model.emb": 16,
    "model.enc_hidden": 16,
    "model.dec_hidden": 16,
    "eval.iw_samples": 5,
    "train.diag_every": 0,
    "train.threads": 1,
}
FILLER = ["the", "food", "was", "service", "here", "staff", "and", "very", "today", "coffee"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_error_line(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert message in lines[0]


# ------------------------------------------------------------ known answers


def gaussians(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Two classes whose first coordinate differs by 2 * shift standard deviations; 3 noise dimensions."""
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4))
    x[:, 0] += shift * (2 * y - 1)
    return x, y


def test_separable_gaussians_are_read_perfectly():
    rng = np.random.default_rng(0)
    result = probe_scores(*gaussians(rng, 400, 5.0), *gaussians(rng, 400, 5.0))
    assert result.accuracy >= 0.99 and result.balanced >= 0.99


def test_features_independent_of_the_label_read_at_chance():
    rng = np.random.default_rng(1)
    train_y, test_y = (rng.random(2000) < 0.3).astype(int), (rng.random(2000) < 0.3).astype(int)
    result = probe_scores(rng.normal(size=(2000, 4)), train_y, rng.normal(size=(2000, 4)), test_y)
    chance = chance_scores(train_y, test_y)
    assert chance.accuracy == pytest.approx(0.7, abs=0.03) and chance.balanced == 0.5
    assert result.accuracy == pytest.approx(chance.accuracy, abs=0.02)
    assert result.balanced == pytest.approx(0.5, abs=0.02)


def test_faint_wobble_of_a_collapsed_encoder_reads_at_chance_until_whitened():
    # Means that follow the label but vary by 1e-4 prior units: the decoder cannot hear that, nor the probe;
    # standardised per unit, the same means read the label (what the whitened probe is there to show).
    rng = np.random.default_rng(2)
    (train_x, train_y), (test_x, test_y) = gaussians(rng, 2000, 5.0), gaussians(rng, 2000, 5.0)
    raw = probe_scores(1e-4 * train_x, train_y, 1e-4 * test_x, test_y)
    assert raw.balanced == pytest.approx(0.5, abs=0.02)
    white_train, white_test = whitened(1e-4 * train_x, 1e-4 * test_x)
    assert probe_scores(white_train, train_y, white_test, test_y).balanced >= 0.99


def test_whitening_standardises_by_the_training_sentences_and_only_centres_a_constant_unit():
    train, test = np.array([[1.0, 3.0], [3.0, 3.0]]), np.array([[5.0, 4.0]])
    white_train, white_test = whitened(train, test)
    np.testing.assert_allclose(white_train, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(white_test, [[3.0, 1.0]])


def test_balanced_accuracy_puts_the_majority_guess_of_an_imbalanced_set_at_one_half():
    truth = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]  # 60% one label
    majority = scores(truth, [0] * 10)
    assert (majority.accuracy, majority.balanced) == (0.6, 0.5)
    half_of_each = scores(truth, [0, 0, 0, 1, 1, 1, 1, 1, 0, 0])  # recall 3/6 and 2/4
    assert (half_of_each.accuracy, half_of_each.balanced) == (0.5, 0.5)


def test_chance_is_the_majority_label_of_train_on_test():
    assert chance_scores([0, 0, 1], [0, 1, 0, 0]).accuracy == 0.75
    assert chance_scores([1, 1, 0], [0, 1, 0, 0]).accuracy == 0.25
    assert chance_scores([1, 1, 0], [0, 1, 0, 0]).balanced == 0.5


def test_bag_of_words_is_binary_word_presence():
    features = bag_of_words([[4, 5, 4], [6]], vocab_size=8).toarray()
    np.testing.assert_array_equal(features, [[0, 0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0]])


def test_bag_of_words_reads_the_word_that_decides_the_label():
    rng = random.Random(0)

    def corpus(n: int) -> tuple[list[list[int]], list[int]]:
        labels = [rng.randrange(2) for _ in range(n)]  # word 4 says 1, word 5 says 0; 6..15 are noise
        sentences = [[*rng.sample(range(6, 16), 3), 4 if label else 5] for label in labels]
        return sentences, labels

    assert bow_scores(*corpus(60), *corpus(40), vocab_size=16) == Scores(1.0, 1.0)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'collapse-bench\[probe\]'"):
        require_sklearn()


# --------------------------------------------------------------- end to end


def write_yelp(root: Path, per_label: int = 100) -> Path:
    """A data folder with yelp/sentiment.dev.{0,1}: filler words and one sentiment word per sentence."""
    rng = random.Random(0)
    (root / "yelp").mkdir(parents=True)
    for label, word in enumerate(("bad", "good")):
        lines = [" ".join([*rng.sample(FILLER, 3), word]) for _ in range(per_label)]
        (root / "yelp" / f"sentiment.dev.{label}").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A suite folder with one trained yelp-short run and one unfinished one, probed once."""
    root = tmp_path_factory.mktemp("probe")
    data = write_yelp(root / "data")
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
    trained = invoke(
        "train",
        "--dataset",
        "yelp-short",
        "--data-dir",
        str(data),
        "--out",
        str(root / "out"),
        "--suite",
        "yelp-short",
        *sets,
        "--quiet",
    )
    assert trained.exit_code == 0, trained.output
    suite = root / "out" / "yelp-short"
    unfinished = resolve("yelp-short", "none", 1, TINY).config
    store.write_json(suite / "runs" / unfinished.run_id() / store.CONFIG, unfinished.to_dict())
    first = invoke("probe", str(suite), "--data-dir", str(data), "--quiet")
    (run,) = [p for p in (suite / "runs").iterdir() if (p / store.MODEL).exists()]
    return {"suite": suite, "data": data, "run": run, "first": first}


def test_probe_writes_balanced_and_plain_accuracies_with_counts(probed):
    assert probed["first"].exit_code == 0, probed["first"].output
    assert "probed 1 of 2 labelled runs (0 already probed, 1 not finished)" in probed["first"].output
    result = json.loads((probed["run"] / PROBE).read_text())
    for kind in ("probe", "whitened", "bow", "chance"):
        for key in (f"{kind}_accuracy", f"{kind}_balanced_accuracy"):
            assert 0.0 <= result[key] <= 1.0, key
    assert result["bow_accuracy"] == result["bow_balanced_accuracy"] == 1.0  # one word decides the label
    assert result["chance_balanced_accuracy"] == 0.5
    assert (result["n_train"], result["n_test"], result["n_classes"]) == (160, 20, 2)
    assert "LogisticRegression" in result["classifier"]
    assert not list(probed["run"].glob(".*.tmp")), "written atomically"


def test_a_second_probe_does_nothing(probed):
    before = (probed["run"] / PROBE).stat().st_mtime_ns
    again = invoke("probe", str(probed["suite"]), "--data-dir", str(probed["data"]), "--quiet")
    assert again.exit_code == 0, again.output
    assert "probed 0 of 2 labelled runs (1 already probed, 1 not finished)" in again.output
    assert (probed["run"] / PROBE).stat().st_mtime_ns == before


def test_report_shows_the_probe_column_and_figure(probed, tmp_path):
    report = build_report(probed["suite"], tmp_path / "report")
    assert "probe.png" in report.figures
    assert (tmp_path / "report" / "probe.png").read_bytes().startswith(b"\x89PNG")
    text = (tmp_path / "report" / "report.md").read_text()
    summary = text.split("## Summary")[1].split("## Significance")[0]
    assert "| probe bal. acc. |" in summary
    assert "**probe bal. acc.**" in text and "](probe.png)" in text


def test_help_says_what_it_measures_with_examples():
    result = invoke("probe", "--help")
    assert result.exit_code == 0
    assert "bag-of-words" in result.output and "chance" in result.output
    assert "collapse-bench probe results/" in result.output.split("Examples:")[1]


def synthetic_suite(root: Path) -> Path:
    """A suite folder whose one finished run is on unlabelled synthetic data (no model: never loaded)."""
    cfg = resolve("synthetic", "none", 0, {}).config
    folder = root / "synthetic" / "runs" / cfg.run_id()
    store.write_json(folder / store.CONFIG, cfg.to_dict())
    store.write_json(folder / store.METRICS, {"status": "finished", "dataset": "synthetic", "seed": 0})
    return root / "synthetic"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: root, "no runs under"),
        (synthetic_suite, "uses a labelled dataset"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, make, message):
    one_error_line(invoke("probe", str(make(tmp_path))), message)


def test_a_store_without_probes_reports_the_metrics_it_always_had(tmp_path):
    assert reported_metrics(load_runs(synthetic_suite(tmp_path))) == METRICS


def test_probing_an_unlabelled_run_is_a_config_error(tmp_path):
    cfg = resolve("synthetic", "none", 0, {"data.synthetic_size": 100, "data.synthetic_vocab": 30}).config
    folder = tmp_path / "runs" / cfg.run_id()
    store.write_json(folder / store.CONFIG, cfg.to_dict())
    store.save_torch(folder / store.MODEL, build_model(34, cfg.model).state_dict())
    with pytest.raises(ConfigError, match="has no labels"):
        probe_run(folder)
    assert not (folder / PROBE).exists()
