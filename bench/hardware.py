"""What the machine is, for metrics.json and the speed benchmark: bf16 speed depends on it."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any


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
