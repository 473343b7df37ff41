"""The rate-distortion plane (Alemi et al. 2018): what each run spends in KL and gets back in reconstruction.

NLL against MI stacked most runs at MI = 0, where they are all alike. Rate
(the KL term) and distortion (the one-sample reconstruction NLL) spread the
same runs out even when collapsed, and since -ELBO = rate + distortion, runs
on one iso-ELBO line (slope -1) are equally good models by the bound: a
remedy that moves a run right along such a line buys information in z for
free, one that moves it up and right pays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from bench.report.figures_common import FigureFile, condition_panels, nats_from_zero, present, style, wrap
from bench.report.figures_styles import COLLAPSED, Styles, collapsed, draw_runs, remedy_legend
from bench.report.runs_frame import FINISHED

ISO_LINES = 4  # about this many iso-ELBO lines per panel


def rate_distortion(runs: pd.DataFrame, order: list[str], styles: Styles) -> FigureFile | None:
    """One panel per cell: each finished run at (KL, reconstruction NLL), with iso-ELBO lines."""
    finished = runs[(runs["status"] == FINISHED) & runs["kl"].notna() & runs["rec"].notna()]
    if finished.empty:
        return None
    with style():
        figure, panels = condition_panels(finished, 4.8, 6.0)
        for ax, condition, cell in panels:
            for label in present(order, cell):
                runs_of = cell[cell["remedy_label"] == label]
                draw_runs(ax, runs_of["kl"].to_numpy(float), runs_of["rec"].to_numpy(float),
                          collapsed(runs_of), styles[label], size=46)
            nats_from_zero(ax, "x")
            iso_elbo_lines(ax)
            ax.set_xlabel("rate: KL(q(z|x) || p(z)) [nats/sentence]")
            ax.set_ylabel("distortion: reconstruction NLL, -E_q[log p(x|z)]\n(1 sample) [nats/sentence]")
            ax.set_title(f"{wrap(condition)}\n{len(cell)} run{'s' if len(cell) != 1 else ''}",
                         fontsize="medium")
        remedy_legend(figure, present(order, finished), styles, line=False,
                      grey=bool(collapsed(finished).any()))
        figure.suptitle("Rate against distortion on the test split, one point per run\n"
                        "dashed lines: equal -ELBO (= rate + distortion), in nats per sentence")
    return FigureFile(
        "rate_distortion.png", "Rate and distortion per run",
        "Each point is one finished run on the test split: x, the rate KL(q(z|x) || p(z)); y, the "
        "distortion, the reconstruction NLL -log p(x|z) of one z sampled from q(z|x); both in nats per "
        "sentence. "
        f"Grey points: {COLLAPSED}. Dashed lines join points of equal -ELBO (rate + distortion, "
        "labelled in nats): down-left is a better bound. Collapse sits at rate 0; a remedy moving right "
        "along a line uses z at no cost in the bound.",
        figure,
    )


def iso_elbo_lines(ax: Axes) -> list[float]:
    """Draw and label lines rate + distortion = c across the panel as its points set it; returns the c."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    levels = [float(c) for c in MaxNLocator(ISO_LINES).tick_values(x0 + y0, x1 + y1) if x0 + y0 < c < x1 + y1]
    for level in levels:
        xs = np.array([x0, x1])
        ax.plot(xs, level - xs, color="black", alpha=0.6, linewidth=0.8, linestyle="--", zorder=1)
        x = min(x1, level - y0)  # where the line leaves the panel (its bottom or right edge), away from
        ax.annotate(f"-ELBO = {level:g}", (x, level - x), xytext=(-3, 3), textcoords="offset points",
                    ha="right", va="bottom", fontsize="x-small", color="black",  # collapsed runs: top left
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return levels
