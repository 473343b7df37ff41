"""Markdown tables that also read as tables in a terminal (reports, `list runs`, `run --dry-run`), and
the one way numbers are written into them."""

from __future__ import annotations

import math
from collections.abc import Sequence


def number(value: float | None, digits: int) -> str:
    """`value` to `digits` decimals; a dash for a missing or non-finite value."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def signed(value: float | None, digits: int) -> str:
    """Like `number`, with the sign always written (differences)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:+.{digits}f}"


def p_value(value: float | None) -> str:
    """A p-value to 3 decimals, `< 0.001` below that, a dash when there is none."""
    if value is None or not math.isfinite(value):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool],
                   aligned: bool = False) -> str:
    """A GitHub-flavoured markdown table; `right[i]` right-aligns column i (numbers).

    `aligned` pads every column to its widest cell, so the same text reads as a
    table in a terminal too.
    """
    cells = [[str(cell).replace("|", "\\|") for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) if aligned else 0 for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(
            cell.rjust(width) if flag else cell.ljust(width)
            for cell, width, flag in zip(row, widths, right, strict=True)
        ) + " |"

    dashes = [width + 1 if aligned else 3 for width in widths]  # aligned: as wide as a cell and its spaces
    rule = "|" + "|".join("-" * count + ":" if flag else ":" + "-" * count
                          for count, flag in zip(dashes, right, strict=True)) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
