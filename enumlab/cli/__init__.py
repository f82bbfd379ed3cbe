"""The ``enumlab`` command line: one module per command, each holding its arguments
(``add_parser``) beside its handler (``run``); this module registers them and runs one.

Exit codes: 0 success, 1 the lookup worked but found nothing usable, 2 an error (one line on
stderr naming the input). A front: it may import any subpackage; nothing imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ..core.errors import EnumlabError, NothingUsableError, shown
from . import doctor, enum, epc, fleet, lab, pcap, query, regexp, serve, simulate, sip, zone
from .common import EXIT_EMPTY, EXIT_ERROR, EXIT_OK, Parser, emit_json
from .guards import (
    Terminated,
    escape_controls,
    escaped_output,
    signals_as_exceptions,
    stopped_by,
)

# the order `enumlab --help` lists them in
COMMANDS = (enum, regexp, simulate, fleet, epc, sip, doctor, pcap, query, serve, zone, lab)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="enumlab",
        description="Learn, validate and debug the DNS that telecom networks route by.",
        epilog="Every command that needs DNS starts the embedded lab server on the lab zones "
               "shipped with enumlab unless --server is given. Run 'enumlab COMMAND --help' "
               "for each command; 'enumlab lab' starts the notebooks.",
    )
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print enumlab's version and where it is installed, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def version_line() -> str:
    """``enumlab X.Y.Z (PATH)``: the installed distribution's version (importlib.metadata)
    when this very package is that distribution's, else ``__version__`` of a source checkout
    (the one place the version is written; the build reads it from there)."""
    from importlib import metadata
    from pathlib import Path

    from .. import __version__

    package = Path(__file__).resolve().parent.parent
    try:
        dist = metadata.distribution("enumlab")
        installed = Path(str(dist.locate_file("enumlab/__init__.py"))).resolve()
    except metadata.PackageNotFoundError:
        return f"enumlab {__version__} ({package}, source checkout)"
    if installed == package / "__init__.py":
        return f"enumlab {dist.version} ({package})"
    return f"enumlab {__version__} ({package}, source checkout)"


def _not_utf8(argv: Sequence[str]) -> str | None:
    """Python hands undecodable argv bytes over as lone surrogates (PEP 383)."""
    for i, arg in enumerate(argv, 1):
        bad = next((ch for ch in arg if "\udc80" <= ch <= "\udcff"), None)
        if bad is not None:
            return (f"argument {i} is not valid UTF-8 (byte 0x{ord(bad) - 0xDC00:02x}): "
                    f"{shown(arg.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace'))}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = _not_utf8(argv)
    if problem is not None:
        print(f"enumlab: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    # no raw control character from data reaches the terminal; a SIGTERM ends the command
    # through its finally blocks (temporary files and child processes cleaned up)
    with escaped_output(), signals_as_exceptions():
        return _run(func, args)


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return func(args)
    except EnumlabError as exc:
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        if getattr(args, "json", False):
            # --json promises JSON on stdout, failures included
            emit_json({"error": {"kind": type(exc).__name__, "message": message,
                                  "input": None if exc.subject is None else shown(exc.subject)}})
        if isinstance(exc, NothingUsableError):  # read whole, nothing in it: exit 1
            print(escape_controls(f"enumlab {args.command}: {message}"), file=sys.stderr)
            return EXIT_EMPTY
        print(escape_controls(f"enumlab {args.command}: error: {message}"), file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"enumlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated as stopped:
        return _stopped(args, stopped.signum)
    except Exception:
        # a library's own error raised while it unwound from the signal's Terminated (numba
        # compiling a kernel when SIGTERM came): the signal ended the command
        signum = stopped_by()
        if signum is None:
            raise
        return _stopped(args, signum)


def _stopped(args: argparse.Namespace, signum: int) -> int:
    import signal

    print(f"enumlab {args.command}: stopped by {signal.Signals(signum).name}", file=sys.stderr)
    return 128 + signum


def run() -> NoReturn:
    """The ``enumlab`` command: :func:`main`, then a plain ``sys.exit`` (exit handlers run,
    output flushed, the interpreter finalised: no private ``atexit`` call and no ``os._exit``
    to save numba's ~0.15 s teardown -- issue 25's one obvious path)."""
    sys.exit(main())
