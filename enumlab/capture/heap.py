"""Fresh memory, paid for ahead of time on the core that would otherwise wait.

The first touch of each new page of anonymous memory is a page fault that the kernel serves by
zeroing the page. On the virtual machines this project is measured on that costs 1-2 us a page:
~0.4 s of a million-packet analysis, whose tables need ~850 MB. Yet the start of a
single-capture analysis -- the interpreter's imports, numba's, the record index -- runs on one
core while the other one waits.

:func:`warm_heap` puts that core to work: a thread asks glibc's allocator for about the heap the
analysis is going to need, touches every page and gives it back. Told never to return freed
memory to the system (``M_TRIM_THRESHOLD``), to keep one arena for all threads
(``M_ARENA_MAX``) and to serve every block under 32 MB from that heap (``M_MMAP_THRESHOLD``),
glibc then hands those pages, already touched, to numpy's arrays. numpy's transparent-huge-page
advice is switched off for the run: a huge-page fault may stall on memory compaction, and
measured here the same run swung between 1.5 and 2.2 s with it.

These are settings of the whole process, so only the `enumlab pcap` command calls this, for one
capture analysed in memory with the compiled engine -- never the library on import. Linux with
glibc only; elsewhere nothing happens. Measured in ``benchmarks/bench_capture.py``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path

BYTES_PER_RECORD = 880  # the heap a record's analysis needs (1 M-packet benchmark capture)
CHUNK = 16 << 20  # touched per allocator call (under M_MMAP_THRESHOLD: served from the heap)
STEP = 4 << 20  # populated per system call (1 MB steps measured slower: 1.4-1.7 s vs 1.3-1.4 s)
SAMPLE = 1 << 18  # bytes of record headers read to estimate a capture's record count
MAX_SHARE = 0.25  # never more than this share of the memory available
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's malloc.h
MADV_POPULATE_WRITE = 23  # linux/mman.h


def heap_estimate(path: str | Path) -> int:
    """The bytes of heap an in-memory analysis of ``path`` will need: its records (estimated
    from the first :data:`SAMPLE` bytes' record headers) times :data:`BYTES_PER_RECORD`; 0 for
    a file that is not an uncompressed pcap / pcapng."""
    from .files import count_frames

    try:
        size = Path(path).stat().st_size
        with open(path, "rb") as f:
            if f.read(2) == b"\x1f\x8b":
                return 0
    except OSError:
        return 0
    sampled = count_frames(path, within=min(size, SAMPLE))
    if not sampled:
        return 0
    return int(sampled * size / min(size, SAMPLE) * BYTES_PER_RECORD)


def _available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def warm_heap(nbytes: int) -> threading.Thread | None:
    """Set glibc's allocator as described in the module docs and touch about ``nbytes`` of
    heap in a background thread (returned; it ends by itself). None when this is not Linux
    with glibc, or there is nothing to do."""
    nbytes = min(nbytes, int(_available() * MAX_SHARE))
    if nbytes < CHUNK or not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL("libc.so.6")
    except (OSError, ValueError, AttributeError):
        return None
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if not (libc.mallopt(M_ARENA_MAX, 1) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
            and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)):
        return None
    try:
        from numpy._core import multiarray  # numpy >= 2

        multiarray._set_madvise_hugepage(False)  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass

    # grow the heap by ``nbytes`` without touching it and give it back at once: the free top
    # of the heap now spans those addresses, and the arrays allocated from here on get them
    chunks = []
    for _ in range(nbytes // CHUNK):
        p = libc.malloc(CHUNK)
        if not p:
            break
        chunks.append(p)
    for p in chunks:
        libc.free(p)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = os.sysconf("SC_PAGE_SIZE")

    def populate() -> None:
        # MADV_POPULATE_WRITE (Linux 5.14): fault the pages in as a write would, without
        # writing -- so it is harmless on pages the analysis has already started using
        # in steps: the kernel holds the address-space lock for each call, and the imports
        # running meanwhile need it to map their libraries
        for p in sorted(chunks):
            lo = -(-p // page) * page
            end = (p + CHUNK) // page * page
            for at in range(lo, end, STEP):
                if libc.madvise(at, min(STEP, end - at), MADV_POPULATE_WRITE) != 0:
                    return  # an older kernel: nothing warmed, nothing lost

    thread = threading.Thread(target=populate, name="enumlab-warm-heap", daemon=True)
    thread.start()
    return thread
