"""Your own corpus as `--dataset`: a folder, one file, or a file per split.

    --dataset FOLDER                            FOLDER/train.txt, valid.txt, test.txt
    --dataset FILE                              one file, cut 80/10/10 by data.split_seed
    --dataset train=PATH,valid=PATH,test=PATH   a file per split

In a folder a split's file is `SPLIT.txt` or `NAME.SPLIT.txt` (He et al.'s
`ptb.train.txt`), the valid split also `validation` or `dev`. A missing valid
or test split (a folder or list without it, or one file) is cut from train by
the seeded shuffle yelp-short uses. Lines hold one whitespace-tokenised
sentence each, or `label<TAB>text` throughout when the train file's first
line does: the probe then predicts those labels. Relative paths start at
`base`: the working folder on the command line, the suite file's folder in a
suite.

The run records the files (absolute paths, as `train=...,valid=...` in
`data.name`), their sha256 and whether they carry labels, so a changed file
is a new run id, and a stored run refuses to reload data that changed since.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from bench.data.corpus import SPLIT_NAMES, SPLITS, Text, check_unchanged, read_text, text_loader
from bench.data.readers import has_labels
from bench.data.spec import USER_CORPUS_SIZES, DatasetSpec
from bench.errors import ConfigError
from bench.settings import DataConfig
from bench.store import file_sha256


def user_corpus(reference: str, base: Path) -> DatasetSpec | None:
    """The spec of the corpus `reference` names, or None when it names no file or folder
    (then it is an unknown dataset name); a path that leads nowhere is a ConfigError."""
    files = _files(reference, base)
    if files is None:
        return None
    canonical = ",".join(f"{split}={path}" for split, path in files.items())
    return DatasetSpec(
        description=f"your corpus: {canonical}",
        source="your files: one sentence a line, or label<TAB>text",
        sizes=USER_CORPUS_SIZES,
        load=text_loader(functools.partial(_read, files)),
        identify=functools.partial(_identify, files, canonical),
    )


# ------------------------------------------------------------------ finding


def _files(reference: str, base: Path) -> dict[str, Path] | None:
    """Split -> absolute file path, in split order; train always present."""
    if "=" in reference:
        files = _listed(reference, base)
    else:
        path = _absolute(reference, base)
        if path.is_dir():
            files = _in_folder(path)
        elif path.is_file():
            files = {"train": path}
        elif _looks_like_path(reference):
            raise ConfigError(
                f"dataset '{reference}': no such file or folder ({path}); give a folder with "
                "train.txt, valid.txt, test.txt, one file, or train=PATH,valid=PATH,test=PATH "
                "(see: collapse-bench list datasets)"
            )
        else:
            return None
    for path in files.values():
        if "," in str(path) or "=" in str(path):
            raise ConfigError(f"{path}: a corpus path cannot hold ',' or '='; rename or link it")
    return files


def _looks_like_path(reference: str) -> bool:
    """Whether a reference that is not a dataset name was meant as a file: it has a folder,
    a suffix, or starts like a path."""
    return (os.sep in reference or "/" in reference or reference.startswith((".", "~"))
            or bool(Path(reference).suffix))


def _absolute(path: str, base: Path) -> Path:
    """Absolute and normalised, symbolic links kept: the path as the user knows it."""
    return Path(os.path.abspath(base / Path(path).expanduser()))


def _listed(reference: str, base: Path) -> dict[str, Path]:
    """`train=PATH,valid=PATH,test=PATH`; valid and test may be left out."""
    given: dict[str, Path] = {}
    for item in reference.split(","):
        split, sep, path = (part.strip() for part in item.partition("="))
        if not sep or split not in SPLITS or not path:
            raise ConfigError(
                f"dataset '{reference}': expected train=PATH,valid=PATH,test=PATH, got '{item}'"
            )
        if split in given:
            raise ConfigError(f"dataset '{reference}': {split} is given twice")
        given[split] = _absolute(path, base)
    if "train" not in given:
        raise ConfigError(f"dataset '{reference}': no train file; give train=PATH")
    for path in given.values():
        if not path.is_file():
            raise ConfigError(f"dataset '{reference}': data file not found: {path}")
    return {split: given[split] for split in SPLITS if split in given}


def _in_folder(folder: Path) -> dict[str, Path]:
    """Each split's file in `folder`; none for train is an error, two for one split too."""
    files = {}
    for split in SPLITS:
        found = sorted({path for name in SPLIT_NAMES[split]
                        for path in (folder / f"{name}.txt", *folder.glob(f"*.{name}.txt"))
                        if path.is_file()})
        if len(found) > 1:
            raise ConfigError(
                f"{folder}: {len(found)} files for the {split} split ({', '.join(p.name for p in found)}); "
                "keep one, or name each with train=PATH,valid=PATH,test=PATH"
            )
        if found:
            files[split] = found[0]
    if "train" not in files:
        raise ConfigError(
            f"{folder} has no train file: expected train.txt (or NAME.train.txt) with valid.txt and "
            "test.txt beside it; a single file is cut 80/10/10"
        )
    return files


# ------------------------------------------------------------------ reading


@functools.lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """A file's sha256, once per version of it (a suite names one corpus in many cells)."""
    return file_sha256(path)


def _digests(files: dict[str, Path]) -> dict[str, str]:
    digests = {}
    for split, path in files.items():
        stat = path.stat()
        digests[split] = _sha256(path, stat.st_size, stat.st_mtime_ns)
    return digests


def _identify(files: dict[str, Path], canonical: str, cfg: DataConfig) -> dict[str, Any]:
    """What the run records of the data: the files, their sha256, whether they carry labels."""
    return {"name": canonical, "sha256": _digests(files), "labelled": has_labels(files["train"])}


def _read(files: dict[str, Path], cfg: DataConfig, data_dir: str | None) -> Text:
    """The files' words and labels, after checking they are the ones the run recorded."""
    check_unchanged(_digests(files), cfg.sha256, {split: str(path) for split, path in files.items()})
    return read_text(files, has_labels(files["train"]), origin="your corpus")
