"""Process-level memory settings for long generation loops."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3


def fixed_mmap_threshold(size: int = 1 << 20) -> bool:
    """Serve allocations >= `size` from mmap, returned to the OS on free (glibc only).

    glibc raises its mmap threshold after the first large free, so the model's 25 MB activation
    buffers then come from the heap, and small long-lived Arrow/NumPy buffers between them pin it:
    measured, a generation actor grew from 1.1 to 2.3 GB between two row groups. Setting the
    threshold explicitly turns that adjustment off. Returns False where glibc is not in use.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(_M_MMAP_THRESHOLD, size))
    except (OSError, AttributeError):
        return False
