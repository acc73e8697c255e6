"""unmap_large_buffers: freed large blocks leave the process instead of staying resident."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Raises glibc's dynamic threshold (a 4 MB block freed), then holds 20 blocks of 2 MB
# with small blocks between them (so the heap top cannot be trimmed), frees the large
# ones and prints how many of the 40 MB it touched left the resident set.
PROBE = """
import sys
from elysia_pipelines.process_memory import unmap_large_buffers
if sys.argv[1] == "on":
    assert unmap_large_buffers()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
bytearray(4 << 20)  # allocated and freed at once: the threshold rises to 4 MB
big, small = [], []
for _ in range(20):
    block = bytearray(2 << 20)
    block[::4096] = b"x" * 512  # touch every page
    big.append(block)
    small.append(bytearray(2000))
before = rss()
big.clear()
print(round(before - rss()))
"""


def released_mb(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_large_blocks_are_returned_only_with_the_fixed_threshold() -> None:
    assert released_mb("off") < 10  # the default: they stay in the heap
    assert released_mb("on") >= 35  # all 20 x 2 MB go back to the system
