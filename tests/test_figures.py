"""The figures' reading aids on small hand-made frames: hues, families, grey for collapse, labels that keep
parameters, honest axes (training cost, posterior means), iso-ELBO lines and the probe's chance line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from bench.report.figures_curves import kl_curves
from bench.report.figures_posterior import ENCODER_AXIS, MODEL_AXIS, posterior_mean
from bench.report.figures_probe import sentiment_probe
from bench.report.figures_rate import rate_distortion
from bench.report.figures_styles import (
    CONTROLS,
    GREY,
    HUES,
    KL_TERM,
    SCHEDULES,
    remedy_styles,
)
from bench.report.labels import short_labels

REMEDIES = ["none", "aggressive", "aggressive+kl-annealing", "beta(beta=0)", "beta(beta=0.4)",
            "bn-vae(gamma=0.5)", "cyclical(cycles=4)", "dilated-cnn(size=small)", "free-bits(lam=0.25)",
            "kl-annealing", "pretrain-fb", "word-dropout(keep=0.5)", "my-plugin", "other-plugin"]


def _colour(rgb) -> tuple[float, ...]:
    return tuple(round(value, 4) for value in to_rgb(rgb))


def test_fourteen_remedies_share_at_most_eight_hues_and_are_told_apart_by_family():
    styles = remedy_styles(REMEDIES)
    assert len({style.colour for style in styles.values()}) <= 8 == len(HUES)
    assert GREY not in {style.colour for style in styles.values()}  # grey is for collapsed runs
    looks = {(style.colour, style.marker, str(style.linestyle)) for style in styles.values()}
    assert len(looks) == len(REMEDIES)  # no two remedies drawn alike
    for family in {style.family for style in styles.values()}:
        hues = [style.colour for style in styles.values() if style.family == family]
        assert len(set(hues)) == len(hues), family.name
    assert styles["beta(beta=0)"].family == CONTROLS  # the autoencoder control
    assert styles["beta(beta=0.4)"].family == KL_TERM and styles["cyclical(cycles=4)"].family == SCHEDULES


def test_labels_keep_the_deciding_parameters_of_a_remedy_alone_in_its_store():
    cyclical = "cyclical(cycles=4,lr_restart=true,ratio=0.5,start=0.1)"
    spec = "aggressive(check_every=15)+kl-annealing(epochs=3.0)"
    labels = short_labels(["free-bits(lam=0.25,per_example=false)", "bn-vae(authors_init=true,gamma=0.5)",
                           cyclical, "beta(beta=0.4)", spec, "none"])
    assert labels == {"free-bits(lam=0.25,per_example=false)": "free-bits(lam=0.25)",
                      "bn-vae(authors_init=true,gamma=0.5)": "bn-vae(gamma=0.5)",
                      cyclical: "cyclical(cycles=4)",
                      "beta(beta=0.4)": "beta(beta=0.4)", spec: "aggressive+kl-annealing", "none": "none"}


def _runs(escaped: list[bool]) -> pd.DataFrame:
    """A cell of one remedy, a finished run per flag, with test metrics."""
    n = len(escaped)
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)], "seed": range(n), "status": "finished", "condition": "cell",
        "remedy": "kl-annealing", "remedy_label": "kl-annealing", "model.nz": 4, "escaped": escaped,
        "kl": [3.0 if flag else 0.01 for flag in escaped],
        "rec": [60.0 if flag else 64.0 for flag in escaped],
    })


def _curves(runs: pd.DataFrame, **extra: list) -> pd.DataFrame:
    rows = [{"run_id": run.run_id, "seed": run.seed, "escaped": run.escaped, "condition": "cell",
             "remedy": run.remedy, "remedy_label": run.remedy_label, "model.nz": 4, "step": step,
             "kl": run.kl, "kl_weight": min(1.0, step / 5), "mi": np.nan, "au": np.nan}
            for run in runs.itertuples() for step in range(10)]
    return pd.DataFrame(rows).assign(**extra)


def test_curves_draw_a_line_per_seed_grey_where_it_collapsed_and_no_band():
    runs = _runs([True, False, False])
    figure = kl_curves(_curves(runs), ["kl-annealing"], remedy_styles(["kl-annealing"])).figure
    kl_ax = figure.axes[0]
    colours = [_colour(line.get_color()) for line in kl_ax.lines]
    assert colours.count(_colour(GREY)) == 2 and len(colours) == 3
    assert not kl_ax.collections  # no t-band
    assert "collapsed run (any remedy)" in [text.get_text() for text in figure.legends[0].get_texts()]


def test_the_training_axis_counts_gradient_evaluations_where_the_curve_records_them():
    runs = _runs([True]).assign(remedy="aggressive", remedy_label="aggressive")
    styles = remedy_styles(["aggressive"])
    outer = kl_curves(_curves(runs), ["aggressive"], styles)
    assert outer.figure.axes[-1].get_xlabel() == "outer training step"
    assert "aggressive's inner encoder steps" in outer.figure.get_suptitle()
    assert "outer training steps only" in outer.caption
    counts = [3 * step for step in range(10)]
    counted = kl_curves(_curves(runs, gradient_steps=counts), ["aggressive"], styles)
    assert counted.figure.axes[-1].get_xlabel().startswith("gradient evaluations")
    assert list(counted.figure.axes[0].lines[0].get_xdata()) == counts


def test_rate_distortion_puts_each_run_at_kl_and_rec_with_labelled_iso_elbo_lines():
    runs = _runs([True, True, False])
    file = rate_distortion(runs, ["kl-annealing"], remedy_styles(["kl-annealing"]))
    ax = file.figure.axes[0]
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), runs[["kl", "rec"]].to_numpy())
    assert [_colour(c) for c in points.get_facecolors()][-1] == _colour(GREY)  # the collapsed run
    iso = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(iso) >= 2
    for line in iso:
        x, y = line.get_xdata(), line.get_ydata()
        assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(-1.0)  # rate + distortion = const
    labels = [text.get_text() for text in ax.texts]
    assert len(labels) == len(iso) and all(label.startswith("-ELBO = ") for label in labels)
    assert ax.get_xlabel().startswith("rate: KL") and ax.get_ylabel().startswith("distortion")


def test_posterior_mean_space_has_the_model_mean_on_x_and_the_encoder_mean_on_y():
    snapshots = pd.DataFrame({
        "run_id": "r0", "seed": 0, "dataset": "synthetic", "condition": "synthetic", "remedy_label": "none",
        "escaped": False, "step": [10, 10, 20, 20], "epoch": 0, "sentence": [0, 1, 0, 1],
        "model_mean": [1.0, -1.0, 2.0, -2.0], "encoder_mean": [0.1, -0.1, 0.0, 0.0],
    })
    (file,) = posterior_mean(snapshots, ["none"], remedy_styles(["none"]))
    ax = file.figure.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[1.0, 0.1], [-1.0, -0.1]])
    assert ax.get_xlabel() == MODEL_AXIS and ax.get_ylabel().endswith(ENCODER_AXIS)
    assert "E_p(z|x)" in MODEL_AXIS and "E_q(z|x)" in ENCODER_AXIS and "(collapsed)" in ax.get_ylabel()
    assert _colour(ax.collections[0].get_facecolors()[0]) == _colour(GREY)


def _probed(**columns: float) -> pd.DataFrame:
    return _runs([True, False]).assign(probe_n_train=100, probe_n_test=20, **columns)


def test_the_probe_figure_draws_balanced_accuracy_with_chance_at_one_half():
    runs = _probed(probe_acc=0.7, probe_bow_acc=0.9, probe_chance_acc=0.62, probe_bal_acc=0.6,
                   probe_white_bal_acc=0.65, probe_bow_bal_acc=0.88, probe_chance_bal_acc=0.5)
    file = sentiment_probe(runs, ["kl-annealing"], remedy_styles(["kl-annealing"]))
    ax = file.figure.axes[0]
    assert ax.get_ylabel().startswith("test balanced accuracy")
    dotted = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":"]
    assert dotted == [0.5]
    filled, hollow = ax.collections
    assert list(filled.get_offsets()[:, 1]) == [0.6, 0.6] and list(hollow.get_offsets()[:, 1]) == [0.65, 0.65]
    assert "balanced accuracy" in file.caption


def test_a_store_probed_before_balanced_accuracy_draws_plain_accuracy_and_says_so():
    runs = _probed(probe_acc=0.7, probe_bow_acc=0.9, probe_chance_acc=0.62)
    file = sentiment_probe(runs, ["kl-annealing"], remedy_styles(["kl-annealing"]))
    ax = file.figure.axes[0]
    assert ax.get_ylabel().startswith("test accuracy")
    assert [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [0.62]
    assert "predate balanced accuracy" in file.caption
