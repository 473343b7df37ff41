"""Running authors' code as it is, from a checkout outside this project (benchmarks/step_check.py).

Nothing of their code is copied here. Their modules are imported from the
checkout's folder as their scripts import them; what their code assumes of
its time (a GPU, PyTorch 0.3) is supplied from outside by patches that last
only as long as their code runs; and the posterior noise is shared with the
harness so that both sides draw the same z.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import torch
from torch import Tensor

import bench.models.vae as harness_vae


@contextlib.contextmanager
def imported_from(folder: Path, stubs: tuple[str, ...] = ()) -> Iterator[None]:
    """Their folder first on sys.path, as their scripts run; on leaving, their modules are forgotten.

    Checkouts share top-level names (`modules`, `utils`, `logger`, `data`), so
    one check must not import another's. `stubs` names packages their imports
    need but the code used never calls (h5py for a data loader that is
    replaced): empty modules, where not installed, while inside.
    """
    root = str(folder.resolve())
    absent = [name for name in stubs if importlib.util.find_spec(name) is None]
    sys.path.insert(0, root)
    sys.modules.update({name: ModuleType(name) for name in absent})
    try:
        yield
    finally:
        sys.path.remove(root)
        theirs = [name for name, module in sys.modules.items()
                  if name in absent or (getattr(module, "__file__", None) or "").startswith(root)]
        for name in theirs:
            del sys.modules[name]


def _zero_dim_as_one_element(original: Callable[..., Any]) -> Callable[..., Any]:
    """`loss.data[0]`: PyTorch 0.3 returned losses as 1-element tensors, today's as 0-dim ones."""

    def getitem(self: Tensor, index: Any) -> Any:
        if self.dim() == 0 and isinstance(index, int) and index == 0:
            return self
        return original(self, index)

    return getitem


@contextlib.contextmanager
def as_in_their_day() -> Iterator[None]:
    """Their GPU-era code on this CPU and PyTorch: `.cuda()` stays on the CPU, `torch.cuda.FloatTensor`
    is a CPU tensor, a 0-dim loss indexes as a 1-element one; their deprecation warnings are silenced."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.nn.Module, "cuda", lambda self, device=None: self))
        stack.enter_context(mock.patch.object(torch.cuda, "FloatTensor", torch.FloatTensor))
        getitem = _zero_dim_as_one_element(torch.Tensor.__getitem__)
        stack.enter_context(mock.patch.object(torch.Tensor, "__getitem__", getitem))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def shared_noise(encoder_class: type | None, noise: Tensor) -> Iterator[None]:
    """The harness, and their encoder class if given, draw z = mu + noise * sigma with the same `noise`,
    which the caller refills before each step: their code draws it from the global stream in another order."""

    def sample(mu: Tensor, logvar: Tensor, *_: Any, **__: Any) -> Tensor:
        return mu.unsqueeze(1) + noise * logvar.mul(0.5).exp().unsqueeze(1)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(harness_vae, "sample_posterior", sample))
        if encoder_class is not None:
            stack.enter_context(mock.patch.object(
                encoder_class, "reparameterize", lambda self, mu, logvar, nsamples=1: sample(mu, logvar)))
        yield
