"""What every figure of the report shares: the file it becomes, the theme, and the axes' units and ranges.

Figures are built on `matplotlib.figure.Figure` directly (never pyplot), so
no GUI backend, global figure registry or `MPLBACKEND` is involved; the
seaborn theme is applied through `rc_context`, so importing this module
changes no global style. PNGs and PDFs are saved without software stamps or
dates, so the same store gives the same bytes.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report.summaries import METRIC, latent_size

DPI = 150
MIN_WIDTH = 7.5  # inches: room for a figure title even with one panel
NATS_SPAN = 0.1  # KL and MI axes show at least [0, 0.1] nats
MI_BELOW_ZERO = "MI estimates below 0 are estimator noise: MI itself is ≥ 0"


@dataclass(frozen=True)
class FigureFile:
    """A figure of the report: PNG file name in the report folder, heading, caption, the figure.

    The figure itself is kept (not only its bytes) so that tests can read
    its axes, limits and labels.
    """

    name: str
    title: str
    caption: str
    figure: Figure = field(repr=False, compare=False)

    @property
    def pdf_name(self) -> str:
        """The vector copy for a paper, beside the PNG."""
        return self.name.removesuffix(".png") + ".pdf"

    def png(self) -> bytes:
        """PNG without the software stamp, so the same store gives the same bytes."""
        return self._saved("png", dpi=DPI, metadata={"Software": None})

    def pdf(self) -> bytes:
        """PDF without creation date or producer, so the same store gives the same bytes."""
        return self._saved("pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})

    def _saved(self, fmt: str, **options: Any) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format=fmt, **options)
        return buffer.getvalue()


@contextmanager
def style() -> Iterator[None]:
    """Seaborn's whitegrid theme for the figures made inside, leaving global rcParams untouched."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1),
          "axes.titleweight": "bold"}
    with mpl.rc_context(rc):
        yield


def condition_panels(frame: pd.DataFrame, panel_width: float,
                     height: float) -> tuple[Figure, list[tuple[Axes, str, pd.DataFrame]]]:
    """A figure with one panel per cell (condition) of `frame` side by side, at least MIN_WIDTH wide, and
    each panel's axes with its condition and rows; call it inside `style()`."""
    conditions = sorted(frame["condition"].unique())
    figure = Figure(figsize=(max(MIN_WIDTH, panel_width * len(conditions)), height), layout="constrained")
    axes = figure.subplots(1, len(conditions), squeeze=False)[0]
    return figure, [(ax, condition, frame[frame["condition"] == condition])
                    for ax, condition in zip(axes, conditions, strict=True)]


def present(order: list[str], frame: pd.DataFrame) -> list[str]:
    """The labels of `order` that `frame` has rows of, in the report's order."""
    have = set(frame["remedy_label"])
    return [label for label in order if label in have]


def wrap(condition: str, width: int = 40) -> str:
    """A cell name over several lines: settings such as `model.nz=1, train.snapshot_every=50` are long."""
    return "\n".join(textwrap.wrap(condition, width, break_on_hyphens=False))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def direction(metric_key: str) -> str:
    lower = METRIC[metric_key].lower_is_better
    return "lower is better" if lower else "higher = less collapse"


def nats_from_zero(ax: Axes, axis: str, span: float = NATS_SPAN) -> None:
    """Show 0 and at least `span` nats on a KL or MI axis.

    A collapsed run's KL of 1e-7 nats would otherwise fill the panel with
    noise at an offset scale, and read as a large effect.
    """
    get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
    low, high = get()
    set_(min(low, -span / 20), max(high, span))


def metric_axis_label(key: str, label: str, frame: pd.DataFrame) -> str:
    """`label`, except for AU: a count of latent units, so out of the runs' nz."""
    if key != "au":
        return label
    nz = latent_size(frame)
    return f"active units (of {nz})" if nz else "active units"


def titled(figure: Figure, title: str, mi: pd.Series) -> None:
    """The figure's title, with `MI_BELOW_ZERO` under it when an MI estimate it draws is below 0.

    Only drawn estimates count: no interval is drawn that could reach below 0 by its own symmetry.
    """
    figure.suptitle(f"{title}\n{MI_BELOW_ZERO}" if bool((mi < 0).any()) else title)


def metric_limits(ax: Axes, axis: str, key: str, nz: int | None) -> None:
    """AU from 0 to nz in whole units (room for markers at both ends); KL and MI from 0 nats."""
    if key == "au":
        get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
        top = float(nz) if nz else max(1.0, get()[1])
        set_(-0.04 * top, 1.04 * top)
        (ax.xaxis if axis == "x" else ax.yaxis).get_major_locator().set_params(integer=True)
    elif key in ("kl", "mi"):
        nats_from_zero(ax, axis)


def jitter(count: int, spread: float = 0.15) -> np.ndarray:
    """Offsets that set `count` single-run dots of one remedy side by side instead of on top of each other."""
    return np.linspace(-spread, spread, count) if count > 1 else np.zeros(count)
