"""The amortisation gap over training (Cremer et al. 2018), one thin line per run, per cell.

At each epoch end a run trained with `train.gap_sentences` > 0 measures, on a fixed subset of its
validation sentences, the ELBO that optimising each sentence's own q(z|x) with the decoder fixed
gains over the encoder's q (bench/amortisation.py). A line near 0 is an encoder that gives the best q
its family allows; a line above it, an encoder lagging behind its decoder (He et al. 2019).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.ticker import MaxNLocator

from bench.diagnosis import LAG_NATS
from bench.report.diagnoses import GAP
from bench.report.figures_common import FigureFile, condition_panels, nats_from_zero, present, style, wrap
from bench.report.figures_styles import COLLAPSED, Styles, collapsed, remedy_legend, run_colour


def gap_curves(validation: pd.DataFrame, order: list[str], styles: Styles) -> FigureFile | None:
    """One panel per cell: each run's gap at each epoch end, coloured by remedy, grey where it collapsed."""
    if validation.empty or GAP not in validation or validation[GAP].isna().all():
        return None
    with style():
        figure, panels = condition_panels(validation, 4.6, 5.2)
        for ax, condition, cell in panels:
            for label in present(order, cell):
                for _, run in cell[cell["remedy_label"] == label].groupby("run_id", sort=True):
                    run = run.sort_values("epoch")
                    down = bool(collapsed(run)[0])
                    ax.plot(run["epoch"], run[GAP], color=run_colour(styles[label], down),
                            linestyle=styles[label].linestyle, marker=styles[label].marker, markersize=3,
                            linewidth=1.0, alpha=0.9, zorder=1 if down else 2)
            ax.axhline(LAG_NATS, color="black", linewidth=0.8, linestyle=":", zorder=0)
            ax.annotate(f"inference lag from {LAG_NATS:g}", (0.0, LAG_NATS), xytext=(3, 2),
                        xycoords=("axes fraction", "data"), textcoords="offset points", fontsize="x-small",
                        va="bottom")
            nats_from_zero(ax, "y")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch (the gap is measured after each)")
            ax.set_ylabel("amortisation gap [nats/sentence]")
            runs = cell["run_id"].nunique()
            ax.set_title(f"{wrap(condition)}\n{runs} run{'s' if runs != 1 else ''}, one line each",
                         fontsize="medium")
        remedy_legend(figure, present(order, validation), styles, grey=bool(collapsed(validation).any()))
        subtitle = wrap("ELBO gained by optimising each sentence's own q(z|x), decoder fixed, over the "
                        "encoder's q", int(figure.get_figwidth() * 11))
        figure.suptitle(f"Amortisation gap over training (Cremer et al. 2018)\n{subtitle}")
    return FigureFile(
        "amortisation_gap.png", "Amortisation gap over training",
        "One thin line per run (seed): at each epoch end, the mean over a fixed subset of validation "
        "sentences of the ELBO gained by optimising each sentence's own Gaussian q(z|x) with Adam, decoder "
        "fixed, from the encoder's output (train.gap_sentences, gap_steps, gap_samples, gap_lr in runs.csv), "
        "in nats per sentence. 0: the encoder already gives the best q it could; above 0: the encoder lags "
        f"behind its decoder (He et al. 2019). Dotted: {LAG_NATS} nats, from which a run that does not "
        f"escape reads as inference lag in the Diagnosis section. Grey lines: {COLLAPSED}. Values just below "
        "0 are sampling noise.",
        figure,
    )
