"""Run an authors' script with what it assumes of its time supplied from outside its files.

    python benchmarks/authors_launch.py [--seed N] [--patch NAME]... [--stub MODULE]... SCRIPT [ARGS...]

benchmarks/side_by_side.py starts every authors' script through this, in a
private copy of their checkout. Their files are never edited. Each patch
stands in, for as long as the script runs, for something the script assumes
(a GPU, PyTorch 0.3, h5py) or removes one evaluation difference that
docs/fidelity.md records; `--stub` makes an import of a package this project
does not install succeed where the code run never uses it; `--seed` seeds
Python's, NumPy's and PyTorch's generators for a script that seeds none.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import multiprocessing
import random
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


class NpzFile(dict):
    """h5py.File for code that only stores whole arrays by name and reads them back: kept as .npz under the
    name the code gives, so their preprocessing writes and their loader reads the same arrays."""

    def __init__(self, path: str, mode: str = "r") -> None:
        super().__init__()
        self.path, self.mode = path, mode
        if mode == "r":
            with np.load(path) as stored:
                self.update({name: stored[name] for name in stored.files})

    def close(self) -> None:
        if self.mode != "r":
            with open(self.path, "wb") as handle:  # a handle: np.savez would add ".npz" to a name
                np.savez(handle, **{name: np.asarray(value) for name, value in self.items()})


def stub(name: str) -> ModuleType:
    """An importable stand-in for an uninstalled package: any name imports from it, and using one says so."""
    module = ModuleType(name)

    def missing(attribute: str) -> Callable[..., Any]:
        if attribute.startswith("__"):  # what the import system looks up is absent, as for a plain module
            raise AttributeError(attribute)

        def fail(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"{name}.{attribute} is a stub (benchmarks/authors_launch.py): install {name}")
        return fail

    module.__getattr__ = missing  # type: ignore[method-assign]
    return module


@contextlib.contextmanager
def cuda_calls() -> Iterator[None]:
    """`tensor.cuda()` stays on the CPU where there is no GPU (Li et al.'s MI code calls it always)."""
    if torch.cuda.is_available():
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


@contextlib.contextmanager
def pytorch_03() -> Iterator[None]:
    """PyTorch-0.3 code on today's CPU PyTorch (`model.cuda()`, `torch.cuda.FloatTensor`, `loss.data[0]`):
    the patches benchmarks/step_check.py runs Fu et al.'s code under."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # after their folder: their module names come first
    from benchmarks.authors_code import as_in_their_day

    with as_in_their_day():
        yield


@contextlib.contextmanager
def h5py_as_npz() -> Iterator[None]:
    """Without h5py installed, `h5py.File` is NpzFile (Fu et al.'s preprocess_text.py and data.py)."""
    if importlib.util.find_spec("h5py") is not None:
        yield
        return
    module = ModuleType("h5py")
    module.File = NpzFile  # type: ignore[attr-defined]
    sys.modules["h5py"] = module
    try:
        yield
    finally:
        del sys.modules["h5py"]


@contextlib.contextmanager
def no_loader_workers() -> Iterator[None]:
    """timbmg/Sentence-VAE gives its DataLoaders `num_workers=cpu_count()`: load in the training process
    instead (the same batches; no worker processes on cores shared with other work)."""
    original = multiprocessing.cpu_count
    multiprocessing.cpu_count = lambda: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        multiprocessing.cpu_count = original  # type: ignore[assignment]


@contextlib.contextmanager
def words_kept_in_evaluation() -> Iterator[None]:
    """timbmg/Sentence-VAE's `SentenceVAE.forward` drops decoder input words in evaluation mode too; here it
    drops them only in training mode, so the validation and test ELBO it prints is the full decoder's, as
    the harness's. Training is unchanged."""
    model_class = importlib.import_module("model").SentenceVAE
    forward = model_class.forward

    def forward_training_dropout(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.training:
            return forward(self, *args, **kwargs)
        rate, self.word_dropout_rate = self.word_dropout_rate, 0.0
        try:
            return forward(self, *args, **kwargs)
        finally:
            self.word_dropout_rate = rate

    model_class.forward = forward_training_dropout
    try:
        yield
    finally:
        model_class.forward = forward


PATCHES: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "cuda-calls": cuda_calls,
    "pytorch-0.3": pytorch_03,
    "h5py-npz": h5py_as_npz,
    "no-loader-workers": no_loader_workers,
    "eval-words-kept": words_kept_in_evaluation,
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, help="seed Python's, NumPy's and PyTorch's generators first")
    parser.add_argument("--patch", action="append", default=[], choices=sorted(PATCHES))
    parser.add_argument("--stub", action="append", default=[], metavar="MODULE",
                        help="a stand-in for MODULE (and its parents) where it is not installed")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    script = Path(options.script).resolve()
    sys.path[0] = str(script.parent)  # as `python SCRIPT` would have it: their modules import each other
    sys.argv = [str(script), *options.args]
    for name in options.stub:
        if importlib.util.find_spec(name.split(".")[0]) is None:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                sys.modules.setdefault(".".join(parts[:depth]), stub(".".join(parts[:depth])))
    if options.seed is not None:
        random.seed(options.seed)
        np.random.seed(options.seed)
        torch.manual_seed(options.seed)
    with contextlib.ExitStack() as stack:
        for name in options.patch:
            stack.enter_context(PATCHES[name]())
        runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
