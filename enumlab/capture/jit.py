"""Kernels that run as machine code when it pays, and as plain Python otherwise.

The decoder's inner loops (the record walk, the per-packet header walk, DNS header decoding) are
written once, as plain Python over a ``uint8`` buffer and preallocated numpy output arrays. For a
capture big enough that compilation pays (or when asked), they are compiled by numba
(``cache=True``: the compile cost is paid once per machine, then read from ``__pycache__``,
under a name that carries a digest of the kernel's code and its helpers', so an edited helper
in another file is compiled anew, never served stale);
otherwise -- a tiny capture, or a machine without numba -- the very same function runs in the
interpreter over a ``bytes`` view, so `enumlab pcap` on a small file never pays numba's import.
Both modes are tested to give identical tables.
"""

from __future__ import annotations

import hashlib
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
    # numba's cache is keyed by the kernel's own file (its time stamp and size) and its name:
    # a helper edited in another file (packets.walk_one, inlined in native.walk_and_decode)
    # would leave the old machine code in use. The name carries a digest of the code of the
    # kernel and of every helper it reaches, so changed code is compiled and cached anew.
    clone.__qualname__ = f"{fn.__qualname__}_{_digest(fn)}"
    clone.__module__ = fn.__module__
    _compiled[name] = numba.njit(cache=True, nogil=True, boundscheck=False)(clone)


def _code_bytes(code: types.CodeType) -> bytes:
    """A code object's instructions, names and constants (nested code too), as bytes that are
    the same in every process (``marshal`` output may differ with reference counts)."""
    parts = [code.co_code, repr((code.co_names, code.co_varnames)).encode()]
    for const in code.co_consts:
        parts.append(_code_bytes(const) if isinstance(const, types.CodeType)
                     else repr(const).encode())
    return b"\0".join(parts)


def _digest(fn: Callable[..., Any]) -> str:
    """A short digest of ``fn``'s code and of the kernel helpers it calls, transitively."""
    seen: dict[str, bytes] = {}

    def walk(f: Callable[..., Any]) -> None:
        key = f"{f.__module__}.{f.__qualname__}"
        if key in seen:
            return
        seen[key] = _code_bytes(f.__code__)
        for used in f.__code__.co_names:
            helper_fn = f.__globals__.get(used)
            if helper_fn is not None and getattr(helper_fn, "_kernel_helper", False):
                walk(helper_fn)

    walk(fn)
    h = hashlib.blake2b(digest_size=6)
    for key in sorted(seen):
        h.update(key.encode())
        h.update(seen[key])
    return h.hexdigest()


def helper(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function that kernels call: compiled with them, plain Python without them."""
    fn._kernel_helper = True  # type: ignore[attr-defined]
    return fn
