"""The baseline of a report: the stored spec a user's `--baseline` names, the cells without it, and the
remedy order that puts it first."""

from __future__ import annotations

import pandas as pd

from bench.errors import ConfigError
from bench.report.specs import spec_parts
from bench.syntax import spec_matches


def resolve_baseline(runs: pd.DataFrame, baseline: str) -> str | None:
    """The remedy spec in the store that `baseline` names: a spec, a label, or a spec that gives some
    parameters (`kl-annealing(epochs=5)`) and matches one stored spec; None when none matches.

    Raises ConfigError when it matches several, naming them.
    """
    specs = set(runs["remedy"])
    if baseline in specs:
        return baseline
    by_label = runs.loc[runs["remedy_label"] == baseline, "remedy"].unique()
    if len(by_label) == 1:
        return str(by_label[0])
    wanted = spec_parts(baseline)
    matches = sorted(spec for spec in specs if spec_matches(wanted, spec_parts(spec)))
    if len(matches) > 1:
        raise ConfigError(f"baseline '{baseline}' matches {len(matches)} remedies in the store: "
                          f"{', '.join(matches)}; give one of them")
    return matches[0] if matches else None


def conditions_without(runs: pd.DataFrame, remedy: str | None) -> list[str]:
    """Cells with no run of `remedy` at all: no test can be made there."""
    have = set(runs.loc[runs["remedy"] == remedy, "condition"]) if remedy else set()
    return sorted(set(runs["condition"]) - have)


def remedy_order(runs: pd.DataFrame, baseline: str | None) -> list[str]:
    """Remedy labels, the baseline first, then alphabetical: one order for every table and figure."""
    labels = sorted(runs["remedy_label"].unique())
    first = runs.loc[runs["remedy"] == baseline, "remedy_label"].unique() if baseline else []
    return [*first, *(label for label in labels if label not in first)]
