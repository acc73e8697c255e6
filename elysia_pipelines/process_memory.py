"""Keep a long-running, multi-threaded command's resident memory near what it uses.

glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so
after the first freed batch body every later one of that size comes from a thread's
malloc arena, and the pages those bodies touched stay resident after they are freed.
A restore's four writer threads each build and drop a ~1 MB request body per batch
and read a ~1 MB echo back: measured on 7,000 source files, its peak RSS was 190-205
MB with the dynamic threshold and 157-174 MB with a fixed 1 MB one, for at most
~0.05 s more system time. (A backup's cursor pages pay ~0.2 CPU-s of extra mmap/munmap and page
faults for it, so backups leave the threshold alone.)
"""

from __future__ import annotations

import sys

# mallopt's parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3
LARGE_BUFFER_BYTES = 1 << 20


def unmap_large_buffers(threshold: int = LARGE_BUFFER_BYTES) -> bool:
    """Blocks of `threshold` bytes or more are mapped on their own and unmapped when freed.

    glibc only (a no-op elsewhere); returns whether the setting was applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
