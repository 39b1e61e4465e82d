"""Freed heap pages go back to the system when asked (glibc's malloc_trim)."""

from __future__ import annotations

from pathlib import Path

from pipeline.memory import release_free_memory


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_freed_heap_pages_are_returned() -> None:
    # 1 kB objects come from malloc's heap (not Python's small-object arenas, not mmap); one
    # kept at the end pins the heap's top, so that free() alone cannot shrink it.
    blocks = [bytes(1000) + bytes([i % 256]) for i in range(120_000)]
    pin = blocks[-1]
    del blocks
    before = rss_mb()
    assert release_free_memory() is True
    after = rss_mb()
    assert before - after > 60, (before, after)
    assert pin[-1] == (120_000 - 1) % 256
