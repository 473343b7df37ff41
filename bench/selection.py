"""`--only KEY=PATTERN`: pick the cells of a suite, or the stored runs, by dataset, remedy or seed.

Patterns are shell wildcards (`*`, `?`, `[...]`), case-sensitive. A remedy
pattern is matched against the remedy's name with its parameters left out
(`kl-annealing+word-dropout`) and against its canonical spec with them
(`kl-annealing(epochs=10.0,...)`), so `remedy=kl-annealing` finds every
kl-annealing cell whatever its parameters, and `remedy='beta(beta=0.2)'` one
setting. A pattern without wildcards that reads as a spec also matches by
value, as the suite file spells it: `beta(beta=0)` finds `beta(beta=0.0)`, and
`kl-annealing(epochs=5)` every kl-annealing cell with 5 warm-up epochs.
Filters on one key are alternatives (`--only seed=0 --only seed=1`); filters
on different keys must all hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TypeVar

from bench.errors import ConfigError, closest
from bench.syntax import parse_spec, spec_matches

KEYS = ("dataset", "remedy", "seed")
_SEED_PATTERN = re.compile(r"^[0-9*?\[\]!-]+$")
_PARAMETERS = re.compile(r"\([^()]*\)")

Item = TypeVar("Item")
Fields = Callable[[Item], tuple[str, str, int]]  # an item's dataset, remedy spec and seed


def remedy_names(spec: str) -> str:
    """`kl-annealing(epochs=10.0)+word-dropout(keep=0.5)` -> `kl-annealing+word-dropout`."""
    return _PARAMETERS.sub("", spec)


@dataclass(frozen=True)
class Selection:
    """Patterns per key; a key without patterns lets everything through."""

    patterns: dict[str, tuple[str, ...]]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __str__(self) -> str:
        return " ".join(f"--only {key}={one}" for key, group in self.patterns.items() for one in group)

    def matches(self, dataset: str, remedy: str, seed: int) -> bool:
        values = {"dataset": (dataset,), "remedy": (remedy, remedy_names(remedy)), "seed": (str(seed),)}
        return all(
            any(fnmatchcase(value, pattern) or (key == "remedy" and _same_spec(pattern, remedy))
                for value in values[key] for pattern in group)
            for key, group in self.patterns.items()
        )

    def pick(self, items: Sequence[Item], fields: Fields, what: str) -> list[Item]:
        """The items that match; ConfigError naming what there is when filters leave none of them."""
        chosen = [item for item in items if self.matches(*fields(item))]
        if items and not chosen:
            found = [fields(item) for item in items]
            raise ConfigError(
                f"{self} matches none of the {len(items)} {what}; they have datasets "
                f"{_listed(dataset for dataset, _, _ in found)}, remedies "
                f"{_listed(remedy_names(remedy) for _, remedy, _ in found)} and seeds "
                f"{_listed(str(seed) for _, _, seed in found)}"
            )
        return chosen


def _same_spec(pattern: str, remedy: str) -> bool:
    """Whether a wildcard-free `pattern` names `remedy` by value (`beta(beta=0)` and `beta(beta=0.0)`)."""
    if any(char in pattern for char in "*?[") or "(" not in pattern:
        return False
    try:
        return spec_matches(parse_spec(pattern), parse_spec(remedy))
    except ConfigError:
        return False


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values), key=lambda value: (len(value), value)))


def parse_only(texts: Sequence[str]) -> Selection:
    """`["remedy=aggressive*", "seed=0"]` -> a Selection; one-line ConfigError for a bad filter."""
    patterns: dict[str, tuple[str, ...]] = {}
    for text in texts:
        key, sep, pattern = (part.strip() for part in text.partition("="))
        if not sep or key not in KEYS or not pattern:
            hint = closest(key, KEYS) if sep and key not in KEYS else ""
            raise ConfigError(
                f"--only expects KEY=PATTERN with KEY one of {', '.join(KEYS)} "
                f"(e.g. --only 'remedy=aggressive*' --only seed=0), got '{text}'.{hint}"
            )
        if key == "seed" and not _SEED_PATTERN.match(pattern):
            raise ConfigError(f"--only seed= expects a seed number or a wildcard pattern of digits, "
                              f"got '{pattern}'")
        patterns[key] = (*patterns.get(key, ()), pattern)
    return Selection(patterns)
