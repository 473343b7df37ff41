"""He et al. 2019's posterior-mean space: does inference keep up with the model?

As in their Figure 1 and 4: x is the model posterior mean E_p(z|x)[z]
(grid quadrature over z), y the approximate posterior mean E_q(z|x)[z]
(the encoder's). Points on the diagonal: inference keeps up; a horizontal
band at y = 0: the encoder lags ("inference collapse"); everything at the
origin: the model has collapsed too.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bench.report.figures_common import MIN_WIDTH, FigureFile, present, slug, style, wrap
from bench.report.figures_styles import COLLAPSED, Styles, collapsed, run_colour

SNAPSHOT_COLUMNS = 4
MODEL_AXIS = "model posterior mean\nE_p(z|x)[z] (quadrature)"
ENCODER_AXIS = "approximate posterior mean\nE_q(z|x)[z] (encoder)"


def pick_snapshots(snapshots: pd.DataFrame, count: int = SNAPSHOT_COLUMNS) -> list[int]:
    """Steps to show: early in epoch 0, its middle and end, and the last snapshot of the run.

    He et al. show the trajectory at the start (where vanilla training starts
    to drift to the origin) and at convergence; equally spaced steps would
    skip the start, where the snapshots are dense.
    """
    steps = sorted(snapshots["step"].unique())
    first_epoch = sorted(snapshots.loc[snapshots["epoch"] == snapshots["epoch"].min(), "step"].unique())
    wanted = [first_epoch[0], first_epoch[len(first_epoch) // 3], first_epoch[-1], steps[-1]]
    return list(dict.fromkeys(wanted))[:count]


def posterior_mean(snapshots: pd.DataFrame, order: list[str], styles: Styles) -> list[FigureFile]:
    """One figure per cell that recorded snapshots: rows = remedies (the lowest seed of each), columns =
    snapshots; shared axes, so a collapsed run reads as a dot at the origin."""
    if snapshots.empty:
        return []
    # The trainer can record the end of epoch 0 twice (a periodic and an epoch-end snapshot).
    snapshots = snapshots.drop_duplicates(["run_id", "step", "sentence"], keep="last")
    per_dataset = snapshots.groupby("dataset")["condition"].nunique()
    files = []
    for index, (condition, cell) in enumerate(snapshots.groupby("condition", sort=True), start=1):
        dataset = cell["dataset"].iloc[0]
        name = slug(dataset) + (f"_{index}" if per_dataset[dataset] > 1 else "")
        with style():
            figure = _cell_figure(cell, condition, present(order, cell), styles)
        files.append(FigureFile(
            f"posterior_mean_{name}.png", f"Posterior-mean space: {condition}",
            "Each dot is a validation sentence: x, the model's true posterior mean E_p(z|x)[z] (grid "
            "quadrature over z); y, the encoder's approximate posterior mean E_q(z|x)[z]. Dashed: the "
            "diagonal, where inference keeps up with the model. A lagging encoder flattens the points "
            "towards y = 0; collapse pulls both to the origin. One run per remedy (its lowest seed), grey "
            f"where it is a {COLLAPSED}.",
            figure,
        ))
    return files


def _cell_figure(cell: pd.DataFrame, condition: str, labels: list[str], styles: Styles) -> Figure:
    first_runs = cell.sort_values("seed").groupby("remedy_label", sort=False)["run_id"].first()
    chosen = {label: pick_snapshots(cell[cell["run_id"] == first_runs[label]]) for label in labels}
    columns = max(len(steps) for steps in chosen.values())
    limit = max(1.0, 1.1 * float(cell[["encoder_mean", "model_mean"]].abs().max().max()))
    figure = Figure(figsize=(max(MIN_WIDTH, 2.6 * columns + 1.2), 2.6 * len(labels) + 1.2),
                    layout="constrained")
    axes = figure.subplots(len(labels), columns, squeeze=False, sharex=True, sharey=True)
    for row, label in enumerate(labels):
        run = cell[cell["run_id"] == first_runs[label]]
        down = bool(collapsed(run)[0])
        for col, ax in enumerate(axes[row]):
            if col >= len(chosen[label]):
                ax.set_visible(False)
                continue
            points = run[run["step"] == chosen[label][col]]
            ax.plot([-limit, limit], [-limit, limit], color="grey", linestyle="--", linewidth=1)
            ax.scatter(points["model_mean"], points["encoder_mean"], s=6, alpha=0.5, linewidths=0,
                       color=run_colour(styles[label], down))
            ax.set_title(f"step {chosen[label][col]} (epoch {int(points['epoch'].iloc[0])})",
                         fontsize="medium")
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
        seed = int(run["seed"].iloc[0])
        axes[row, 0].set_ylabel(f"{label}, seed {seed}{' (collapsed)' if down else ''}\n\n{ENCODER_AXIS}")
    for ax in axes[-1]:
        ax.set_xlabel(MODEL_AXIS)
    sentences = int(cell.groupby(["run_id", "step"]).size().max())
    figure.suptitle(f"Posterior-mean space (He et al. 2019)\n{wrap(condition, 70)}\n{sentences} validation "
                    "sentences; rows: remedies (lowest seed); columns: snapshots during training")
    return figure
