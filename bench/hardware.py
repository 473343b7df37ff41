"""What the machine is, for metrics.json and the speed benchmark: bf16 speed depends on it."""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Any

import torch


def cpu_description() -> dict[str, Any]:
    """CPU model and the flags that decide bf16 speed (AMX tiles, AVX-512 bf16), from /proc/cpuinfo.

    `platform.processor()` is empty on most Linux machines, so the model name
    comes from /proc/cpuinfo where there is one; the flags are None elsewhere.
    """
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"cpu": platform.processor() or platform.machine(), "amx_bf16": None, "avx512_bf16": None}
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in info.splitlines() if ":" in line)}
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name", platform.machine()),
            "amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags}


@functools.cache
def cpu_runs_bf16_lstm() -> bool:
    """Whether this CPU runs an LSTM under bf16 autocast: oneDNN's bf16 LSTM needs AVX-512, and
    without it fails at the first call, so a run asks before it trains rather than mid-way."""
    lstm = torch.nn.LSTM(2, 2, batch_first=True)
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


def bf16_refusal(device: str, *precisions: str) -> str | None:
    """The one-line reason a run asking for `precisions` cannot run on `device` here, or None."""
    if device == "cpu" and "bf16" in precisions and not cpu_runs_bf16_lstm():
        return ("bf16 needs an LSTM in bf16, which this CPU cannot run (oneDNN needs AVX-512 for it; "
                f"{cpu_description()['cpu']} has none): use fp32")
    return None
