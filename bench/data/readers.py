"""Read corpus files in the formats the papers used, failing with one clear line.

Two formats: one whitespace-tokenised sentence per line (PTB, Yahoo, SNLI,
short Yelp) and `label<TAB>text` (Yang et al.'s Yelp; `has_labels` tells them
apart for a corpus of your own). Empty lines are
dropped. Every problem a user can fix (missing or empty file, bytes that are
not UTF-8, a malformed label) is a `ConfigError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bench.errors import ConfigError

# Longer than any sentence of any corpus: what reads as one line then is not text. It also bounds
# the memory one line can take before the check.
MAX_LINE_BYTES = 1 << 20


def read_sentences(path: str | Path) -> list[list[str]]:
    """One sentence per line, split on whitespace; empty lines dropped."""
    path = Path(path)
    sentences = [words for _, line in _lines(path) if (words := line.split())]
    _require_some(sentences, path)
    return sentences


def read_labelled(path: str | Path) -> tuple[list[int], list[list[str]]]:
    """`label<TAB>text` lines -> (integer labels, tokenised sentences), aligned.

    A line whose text is empty is dropped with its label, as an empty line is.
    """
    path = Path(path)
    labels: list[int] = []
    sentences: list[list[str]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        if not tab:
            raise ConfigError(
                f"{path}: line {number} has no TAB; expected 'label<TAB>text' lines"
            )
        try:
            value = int(label)
        except ValueError:
            raise ConfigError(
                f"{path}: line {number} has label {label.strip()!r}; expected an integer "
                "before the TAB"
            ) from None
        if words := text.split():
            labels.append(value)
            sentences.append(words)
    _require_some(sentences, path)
    return labels, sentences


def has_labels(path: str | Path) -> bool:
    """Whether the file's first non-empty line reads as `label<TAB>text` with an integer label: a
    corpus of your own is labelled when its train file starts so (every line must then be)."""
    for _, line in _lines(Path(path)):
        if line.strip():
            label, tab, _ = line.partition("\t")
            return bool(tab) and label.strip().lstrip("+-").isdigit()
    return False


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, decoded line); a line that is not text is reported by number."""
    if not path.is_file():
        raise ConfigError(
            f"data file not found: {path}; check the data folder "
            "(--data-dir or COLLAPSE_BENCH_DATA) or download the corpus"
        )
    with path.open("rb") as handle:
        lines = iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b"")
        for number, raw in enumerate(lines, start=1):
            yield number, _decoded(raw, path, number)


def _decoded(raw: bytes, path: Path, number: int) -> str:
    """One line as text; a line no sentence file has (too long, NUL, not UTF-8) is a ConfigError."""
    if len(raw) > MAX_LINE_BYTES:
        raise ConfigError(
            f"{path}: line {number} is longer than {MAX_LINE_BYTES >> 20} MiB; expected one sentence "
            "per line (is this a binary or compressed file?)"
        )
    if (column := raw.find(b"\0") + 1) > 0:
        raise ConfigError(
            f"{path}: line {number} contains a NUL byte at column {column}; expected "
            "text, one sentence per line (is this a binary or compressed file?)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: line {number} is not valid UTF-8 (byte {raw[err.start]:#04x} "
            f"at column {err.start + 1}); re-encode the file as UTF-8"
        ) from None


def _require_some(sentences: list[list[str]], path: Path) -> None:
    if not sentences:
        raise ConfigError(
            f"data file is empty: {path} has no non-empty line; fill it or fix the path"
        )
