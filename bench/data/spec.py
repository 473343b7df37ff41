"""What the harness knows about a dataset, in one place: the spec.

A spec holds everything a dataset name stands for: what it is, where its
files come from, the model sizes it trains with unless `--set` says
otherwise, whether its sentences carry labels, and how to load it. The
config (sizes), `collapse-bench list datasets`, corpus plugins and your own
corpora all read it; there is no second table a dataset could be missing
from. Sizes are required: no dataset silently trains at sizes meant for
another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.data.corpus import Loader
    from bench.settings import DataConfig


@dataclass(frozen=True)
class Sizes:
    """The model and batch sizes a dataset trains with unless `--set` changes them."""

    nz: int
    emb: int
    enc_hidden: int
    dec_hidden: int
    batch_size: int
    epochs: int  # at most: validation-driven decay stops a run earlier

    def settings(self) -> dict[str, int]:
        """As config keys: {"model.nz": 32, ..., "train.epochs": 100}."""
        section = {"batch_size": "train", "epochs": "train"}
        return {f"{section.get(key, 'model')}.{key}": value for key, value in asdict(self).items()}

    def describe(self) -> str:
        return (f"nz {self.nz}, emb {self.emb}, hidden {self.enc_hidden}/{self.dec_hidden}, "
                f"batch {self.batch_size}, epochs {self.epochs}")


# The papers' sizes: He et al. 2019 (synthetic, yahoo, yelp), Li et al. 2019 (ptb, snli);
# docs/fidelity.md.
SYNTHETIC_SIZES = Sizes(nz=2, emb=50, enc_hidden=50, dec_hidden=50, batch_size=16, epochs=50)
PTB_SIZES = Sizes(nz=32, emb=256, enc_hidden=256, dec_hidden=256, batch_size=32, epochs=100)
YAHOO_SIZES = Sizes(nz=32, emb=512, enc_hidden=1024, dec_hidden=1024, batch_size=32, epochs=100)
SNLI_SIZES = Sizes(nz=32, emb=128, enc_hidden=512, dec_hidden=512, batch_size=32, epochs=100)
# Your own corpus (a folder, a file, hf:...): sentence-length text like PTB's, so PTB's sizes.
# `list datasets` and docs/datasets.md say so; --set changes them.
USER_CORPUS_SIZES = PTB_SIZES

Identify = Callable[["DataConfig"], dict[str, Any]]


def _records_nothing(cfg: DataConfig) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: description, source, sizes, loader, labels.

    `load(cfg.data, data_dir, cache_dir)` returns a `Corpus`; a plugin builds
    it with `bench.data.corpus.text_loader` from a function that reads words.
    `identify(cfg.data)` returns the data settings a run records about the
    data itself (your corpus: its files and their sha256), so that changed
    data is a new run id; a named dataset records nothing there, its name is
    its identity.
    """

    description: str  # one line, for `list datasets`
    source: str  # where its files come from, for `list datasets` and error messages
    sizes: Sizes
    load: Loader
    labelled: bool = False  # a label per sentence: the probe's target
    identify: Identify = _records_nothing

    def describe(self) -> dict[str, Any]:
        """A row of `collapse-bench list datasets` (without the name)."""
        return {"description": self.description, "source": self.source, "labelled": self.labelled,
                "sizes": asdict(self.sizes)}
