"""A Hugging Face `datasets` corpus as `--dataset hf:NAME[:CONFIG]` or `hf:FOLDER`.

`hf:NAME[:CONFIG]` loads through `datasets.load_dataset` (from the Hub, or
its cache); `hf:FOLDER` reads a folder written by `save_to_disk`, with no
network. The sentences are the column `data.text_column` (default `text`),
split on whitespace as the files of every other corpus; an integer column
`data.label_column` (default `label`), when the dataset has it, gives the
labels the probe predicts (`--set data.label_column=` for none). The splits
`train`, `validation` (or `valid`, `dev`) and `test` are used; a missing
valid or test split is cut from train as for a file of your own, and a
dataset of one split of another name is that split cut 80/10/10.

The run records the dataset (a folder as its absolute path) and the sha256
of each split's text and labels as read, so other data is another run id.
The library is an optional extra: pip install 'collapse-bench[hf]'.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from bench.data.corpus import SPLIT_NAMES, Text, check_unchanged, text_loader
from bench.data.spec import USER_CORPUS_SIZES, DatasetSpec
from bench.errors import ConfigError
from bench.settings import DataConfig

PREFIX = "hf:"


def hf_corpus(reference: str, base: Path) -> DatasetSpec | None:
    """The spec of `hf:...`, or None for any other reference; nothing is loaded yet."""
    if not reference.startswith(PREFIX):
        return None
    _require_datasets()
    canonical = PREFIX + _location(reference[len(PREFIX):], base)
    return DatasetSpec(
        description=f"Hugging Face dataset {canonical[len(PREFIX):]}",
        source="datasets.load_dataset, or load_from_disk for a folder; column data.text_column",
        sizes=USER_CORPUS_SIZES,
        load=text_loader(functools.partial(_read, canonical)),
        identify=functools.partial(_identify, canonical),
    )


def _require_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "hf: datasets are read with the Hugging Face `datasets` library, which is not installed: "
            "pip install 'collapse-bench[hf]'"
        ) from None
    return datasets


def _location(rest: str, base: Path) -> str:
    """A saved folder as its absolute path; a Hub name (NAME or NAME:CONFIG) as given."""
    if not rest.strip():
        raise ConfigError("hf: needs a dataset: hf:NAME, hf:NAME:CONFIG or hf:FOLDER (a save_to_disk folder)")
    folder = (base / Path(rest).expanduser()).absolute()
    if folder.is_dir():
        return str(folder)
    if rest.startswith(("/", ".", "~")):
        raise ConfigError(f"hf:{rest}: no such folder ({folder}); give a folder written by save_to_disk")
    return rest


def _load(canonical: str) -> dict[str, Any]:
    """Split name -> `datasets.Dataset`; a dataset saved as one split is that split, named train."""
    datasets = _require_datasets()
    rest = canonical[len(PREFIX):]
    try:
        if Path(rest).is_absolute():
            loaded = datasets.load_from_disk(rest)
        else:
            name, _, config = rest.partition(":")
            loaded = datasets.load_dataset(name, config or None)
    except Exception as exc:  # the library's errors for a bad name, config, folder or network
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"{canonical}: datasets cannot load it: {type(exc).__name__}: {reason}") from None
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    return dict(loaded)


def _chosen_splits(loaded: dict[str, Any], canonical: str) -> dict[str, str]:
    """Our split -> the dataset's split name."""
    chosen = {}
    for split, names in SPLIT_NAMES.items():
        found = [name for name in names if name in loaded]
        if found:
            chosen[split] = found[0]
    if "train" in chosen:
        return chosen
    if len(loaded) == 1:
        return {"train": next(iter(loaded))}
    raise ConfigError(f"{canonical} has the splits {', '.join(loaded)}, none named train")


def _column(table: Any, column: str, canonical: str, split: str, setting: str) -> list:
    if column not in table.column_names:
        raise ConfigError(
            f"{canonical}: split {split} has no column '{column}' (it has {', '.join(table.column_names)}); "
            f"choose one with --set data.{setting}=NAME"
        )
    return list(table[column])


@functools.lru_cache(maxsize=2)
def _text(canonical: str, text_column: str, label_column: str) -> tuple[Text, dict[str, str]]:
    """The dataset's words and labels per split, and the sha256 of each split as read."""
    loaded = _load(canonical)
    chosen = _chosen_splits(loaded, canonical)
    labelled = bool(label_column) and label_column in loaded[chosen["train"]].column_names
    words: dict[str, list[list[str]]] = {}
    labels: dict[str, list[int]] = {}
    digests: dict[str, str] = {}
    for split, theirs in chosen.items():
        table = loaded[theirs]
        texts = _column(table, text_column, canonical, theirs, "text_column")
        ys = _labels(table, label_column, canonical, theirs) if labelled else [None] * len(texts)
        digest = hashlib.sha256()
        words[split], labels[split] = [], []
        for row, (text, label) in enumerate(zip(texts, ys, strict=True)):
            if text is not None and not isinstance(text, str):
                raise ConfigError(
                    f"{canonical}: row {row} of split {theirs} holds {type(text).__name__} in column "
                    f"'{text_column}', not text; choose a text column with --set data.text_column=NAME"
                )
            line = " ".join((text or "").split())
            digest.update(f"{'' if label is None else label}\t{line}\n".encode())
            if line:
                words[split].append(line.split())
                labels[split].append(label)
        if not words[split]:
            raise ConfigError(f"{canonical}: split {theirs} has no text in column '{text_column}'")
        digests[split] = digest.hexdigest()
    source = {
        "origin": f"Hugging Face datasets: {canonical}",
        "splits": ", ".join(f"{split}={theirs}" for split, theirs in chosen.items()),
        "columns": f"text {text_column}" + (f", label {label_column}" if labelled else ", no labels"),
        **{f"{split}_text_sha256": digest for split, digest in digests.items()},
    }
    return Text(words, labels if labelled else None, source), digests


def _labels(table: Any, column: str, canonical: str, split: str) -> list[int]:
    values = _column(table, column, canonical, split, "label_column")
    wrong = next((value for value in values if not isinstance(value, int)), None)
    if wrong is not None or any(value is None for value in values):
        raise ConfigError(
            f"{canonical}: column '{column}' of split {split} holds {type(wrong).__name__}, not integer "
            "labels; name an integer column with --set data.label_column=NAME, or none with "
            "--set data.label_column="
        )
    return [int(value) for value in values]


def _identify(canonical: str, cfg: DataConfig) -> dict[str, Any]:
    """What the run records of the data: the dataset, each split's sha256, whether it has labels."""
    text, digests = _text(canonical, cfg.text_column, cfg.label_column)
    return {"name": canonical, "sha256": digests, "labelled": text.labels is not None}


def _read(canonical: str, cfg: DataConfig, data_dir: str | None) -> Text:
    text, digests = _text(canonical, cfg.text_column, cfg.label_column)
    check_unchanged(digests, cfg.sha256, {split: f"{canonical} ({split})" for split in digests})
    return text
