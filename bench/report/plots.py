"""The report's figures, in report order, from the frames `render` builds.

One module per figure (`figures_*`); this one gives every figure the same
styles: each remedy's colour, marker and line style are fixed once for the
whole report, and the curve and snapshot tables get each run's `escaped`
flag so that collapsed runs are grey in every figure.
"""

from __future__ import annotations

import pandas as pd

from bench.report.figures_bars import metric_bars
from bench.report.figures_common import FigureFile
from bench.report.figures_curves import kl_curves, mi_au_curves
from bench.report.figures_gap import gap_curves
from bench.report.figures_posterior import posterior_mean
from bench.report.figures_probe import sentiment_probe
from bench.report.figures_rate import rate_distortion
from bench.report.figures_styles import remedy_styles
from bench.report.figures_sweeps import RECEPTIVE_FIELD, parameter_sweeps, sweep

__all__ = ["FigureFile", "all_figures"]


def _with_escapes(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each run's `escaped` where it is a per-run table that lacks it."""
    if frame.empty or "run_id" not in frame or "escaped" in frame or "escaped" not in runs:
        return frame
    return frame.merge(runs[["run_id", "escaped"]], on="run_id", how="left")


def all_figures(runs: pd.DataFrame, summary: pd.DataFrame, curves: pd.DataFrame, snapshots: pd.DataFrame,
                order: list[str], validation: pd.DataFrame | None = None) -> list[FigureFile]:
    """Every figure the store has data for, in report order; `validation`: per-epoch amortisation gaps."""
    runs_, summary_, curves_, snapshots_, validation_ = (
        _with_escapes(frame, runs) for frame in (runs, summary, curves, snapshots,
                                                 pd.DataFrame() if validation is None else validation))
    shown = order
    styles = remedy_styles(shown)
    figures: list[FigureFile | None] = [
        metric_bars(runs_, summary_, shown, styles),
        kl_curves(curves_, shown, styles),
        mi_au_curves(curves_, shown, styles),
        gap_curves(validation_, shown, styles),
        rate_distortion(runs_, shown, styles),
        sentiment_probe(runs_, shown, styles),
        *posterior_mean(snapshots_, shown, styles),
        *(sweep(runs_, spec) for spec in (RECEPTIVE_FIELD, *parameter_sweeps(runs_))),
    ]
    return [figure for figure in figures if figure is not None]
