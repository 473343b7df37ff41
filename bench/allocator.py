"""Keep freed memory inside the process, so big tensors stop costing page faults.

Every decoder call allocates logits of cells x vocabulary floats (tens of MB)
and frees them again. glibc hands such blocks back to the kernel on free, and
the next call faults every page in anew: measured on ptb-small (IW NLL, 1
thread), a third of the wall time was kernel time zeroing pages. Raising the
trim threshold and the top pad keeps the freed heap for the next call; IW NLL
ran 1.5x faster (29.5 s -> 19.3 s, sys 10 s -> 0.2 s) for 37 MB more peak RSS.
See docs/history.md, "What changed in stop 12".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_TOP_PAD = -2
TRIM_THRESHOLD_BYTES = 1 << 30  # return memory to the kernel only above 1 GiB of free heap
TOP_PAD_BYTES = 1 << 28  # grow the heap 256 MiB at a time, so big blocks fit without mmap


@functools.cache
def retain_freed_memory() -> bool:
    """Tune glibc malloc once per process; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(M_TOP_PAD, TOP_PAD_BYTES))
