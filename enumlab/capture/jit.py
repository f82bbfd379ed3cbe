"""Kernels that run as machine code when it pays, and as plain Python otherwise.

The decoder's inner loops (the record walk, the per-packet header walk, DNS header decoding) are
written once, as plain Python over a ``uint8`` buffer and preallocated numpy output arrays. For a
capture big enough that compilation pays (or when asked), they are compiled by numba
(``cache=True``: the compile cost is paid once per machine, then read from ``__pycache__``);
otherwise -- a tiny capture, or a machine without numba -- the very same function runs in the
interpreter over a ``bytes`` view, so `enumlab pcap` on a small file never pays numba's import.
Both modes are tested to give identical tables.
"""

from __future__ import annotations

import os
import threading
import types
from collections.abc import Callable
from typing import Any

JIT_MIN_BYTES = 4 << 20  # below this a capture is decoded by the interpreter
_compiled: dict[str, Any] = {}


def import_numba() -> Any:
    """numba, imported through its public API only."""
    import numba

    return numba


def numba_available() -> bool:
    try:
        import_numba()
    except ImportError:
        return False
    return os.environ.get("ENUMLAB_NO_JIT", "") == ""


def want_jit(nbytes: int, jit: bool | None) -> bool:
    """Compile when asked, or by default for captures of at least :data:`JIT_MIN_BYTES`."""
    if jit is False:
        return False
    if jit is None and nbytes < JIT_MIN_BYTES:
        return False
    return numba_available()


def kernel(fn: Callable[..., Any], jit: bool) -> Callable[..., Any]:
    """``fn`` itself, or its numba compilation (made once per process, cached on disk)."""
    if not jit:
        return fn
    name = f"{fn.__module__}.{fn.__qualname__}"
    if name not in _compiled:
        with _making:  # two threads asking at once get one dispatcher
            if name not in _compiled:
                _make(fn, name)
    compiled: Callable[..., Any] = _compiled[name]
    return compiled


# two threads of one analysis (the QNAME and address codes) may ask for a kernel at once;
# re-entrant: a kernel's helpers are made inside it
_making = threading.RLock()


def _make(fn: Callable[..., Any], name: str) -> None:
    numba = import_numba()

    # helpers a kernel calls are compiled first and seen by it under their own names
    scope = dict(fn.__globals__)
    for used in fn.__code__.co_names:
        if getattr(scope.get(used), "_kernel_helper", False):
            scope[used] = kernel(scope[used], True)
    clone = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__,
                               fn.__closure__)
    clone.__qualname__, clone.__module__ = fn.__qualname__, fn.__module__
    _compiled[name] = numba.njit(cache=True, nogil=True, boundscheck=False)(clone)


def helper(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function that kernels call: compiled with them, plain Python without them."""
    fn._kernel_helper = True  # type: ignore[attr-defined]
    return fn
