"""What every command runs inside: its stdout escaped for the terminal, and SIGTERM/SIGHUP as an
exception so its clean-up runs (issue 29). Used by :func:`enumlab.cli.main` only."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any

# control characters a terminal acts on (C0 but newline and tab, DEL, C1): ESC starts escape
# sequences (clear the screen, set the window title), BEL rings, CR overwrites the line
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with every control character a terminal would act on as ``\\DDD`` (its
    decimal code, as dig prints them: ``\\027[2J``); newlines and tabs kept."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\{ord(m.group()):03d}", text)


class EscapingWriter:
    """A text stream that passes everything through :func:`escape_controls`: every command's
    human output goes through it, so record data from DNS or a capture (NAPTR, SRV, QNAMEs)
    never reaches a terminal raw. JSON is unchanged (``json`` escapes control characters
    itself); ``buffer`` (bytes) is the underlying stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_controls(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def escaped_output() -> Iterator[None]:
    """sys.stdout through :class:`EscapingWriter` for the block. (stderr carries progress
    bars, which redraw with CR; the error line written there is escaped where it is made.)"""
    saved = sys.stdout
    sys.stdout = EscapingWriter(sys.stdout)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = saved


class Terminated(BaseException):
    """SIGTERM or SIGHUP while a command runs: raised by the handler :func:`main` installs, so
    every ``finally`` and ``with`` runs -- a pieces directory, a temporary file, a child
    process is removed or stopped -- and the command exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _said_while_stopping(info: Any) -> None:
    """After SIGTERM/SIGHUP: the exception a finaliser raises, in one line, not a traceback.
    :class:`Terminated` is raised wherever the main thread is, even inside another library's
    constructor, and an object left half-made can fail when it is collected (measured: a
    llvmlite ``OutputString`` whose ``__del__`` reads the attribute its ``__init__`` had not
    set yet, SIGTERM having come while numba loaded a kernel)."""
    where = getattr(info.object, "__qualname__", None) or type(info.object).__name__
    print(escape_controls(f"enumlab: while stopping, {where}: {type(info.exc_value).__name__}"
                          f": {info.exc_value}"), file=sys.stderr)


_FIRED: list[int] = []  # the signal that is ending the command, once one came


def stopped_by() -> int | None:
    """The SIGTERM/SIGHUP ending the command, if one came: an exception that escapes after it
    is the signal's doing (raised where the main thread was -- inside numba's compiler, say,
    whose clean-up then raises its own error), so the command ends as the signal says."""
    return _FIRED[0] if _FIRED else None


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` for the block (the first one only: a
    second waits for the clean-up the first started). Main thread only."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = _FIRED
    fired.clear()

    def handler(signum: int, frame: object) -> None:
        if not fired:
            fired.append(signum)
            # from here the process is ending; left installed, as a finaliser may run late
            sys.unraisablehook = _said_while_stopping
            raise Terminated(signum)

    wanted = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
