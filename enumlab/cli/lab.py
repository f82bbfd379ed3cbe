"""``enumlab lab [DIR]``: the notebooks and the data they read copied into DIR, then the embedded
DNS lab and JupyterLab started on loopback (a fresh token); Ctrl-C or SIGTERM stops both.

DIR gets the repository's shape -- ``DIR/notebooks/*.ipynb`` beside ``DIR/data/`` -- so the
notebooks' ``../data/...`` paths hold. A file already in DIR that differs from the shipped one
is the learner's and is kept (and named), unless ``--force``. Both servers run as children in
their own sessions, so a Ctrl-C in the terminal reaches this process only, which then stops each
child by its PID (SIGTERM, then SIGKILL after a grace period) and waits for it; on Linux a child
also gets SIGTERM if this process is killed outright (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InputError, LabServerError, ToolMissingError
from ..core.paths import DATA_DIR, NOTEBOOK_DIR
from .common import int_in

DEFAULT_DIR = Path("enumlab-notebooks")
# what the notebooks read, copied beside them (make_captures.py re-makes the captures: kept)
DATA_PARTS = ("zones", "captures", "fleet", "samples", "kamailio")
STOP_GRACE = 15.0  # seconds a child gets to stop after SIGTERM before SIGKILL


@dataclass
class CopyReport:
    """What :func:`copy_lab_files` did with each file, by path relative to the target."""

    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # differ from the shipped file: the learner's


def _shipped_files() -> list[tuple[Path, str]]:
    files = [(p, f"notebooks/{p.name}") for p in sorted(NOTEBOOK_DIR.glob("*.ipynb"))]
    for part in DATA_PARTS:
        base = DATA_DIR / part
        files += [(p, f"data/{p.relative_to(DATA_DIR).as_posix()}")
                  for p in sorted(base.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    return files


def copy_lab_files(target: Path, *, force: bool = False) -> CopyReport:
    """Copy the shipped notebooks and data into ``target`` (created if missing); never replace a
    file that differs from the shipped one unless ``force``."""
    report = CopyReport()
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} exists and is not a directory", subject=str(target))
    for source, relative in _shipped_files():
        dest = target / relative
        if dest.exists() and dest.resolve() == source.resolve():
            report.unchanged.append(relative)  # `enumlab lab .` in a checkout: the same file
            continue
        if dest.is_file() and dest.read_bytes() == source.read_bytes():
            report.unchanged.append(relative)
            continue
        if dest.exists() and not force:
            report.kept.append(relative)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        report.copied.append(relative)
    return report


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lab", help="copy the notebooks and start the DNS lab and JupyterLab (loopback)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Copy the notebooks and the data they read into DIR, then start the "
                    "embedded DNS lab\nand JupyterLab on 127.0.0.1 with a fresh token. Files "
                    "you edited are kept\n(named on the terminal) unless --force. Ctrl-C or "
                    "SIGTERM stops both servers.",
        epilog="examples:\n"
               "  enumlab lab                       ./enumlab-notebooks, DNS lab on 5353, "
               "JupyterLab on 8888\n"
               "  enumlab lab ~/enum --dns-port 5354 --jupyter-port 8899\n"
               "  enumlab lab --copy-only           copy (or refresh) the files, start nothing",
    )
    p.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, metavar="DIR",
                   help="where the notebooks go (default ./enumlab-notebooks)")
    p.add_argument("--dns-port", type=int_in(1, 65535, "port"), default=5353, metavar="PORT",
                   help="the DNS lab's port on 127.0.0.1 (default 5353, also mDNS's port)")
    p.add_argument("--jupyter-port", type=int_in(1, 65535, "port"), default=8888, metavar="PORT",
                   help="JupyterLab's port on 127.0.0.1 (default 8888)")
    p.add_argument("--force", action="store_true",
                   help="replace files in DIR that differ from the shipped ones")
    p.add_argument("--copy-only", action="store_true", help="copy the files and start nothing")
    p.set_defaults(func=run)


def _stop(proc: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM to the child's process group (it leads its own session), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        print(f"enumlab: {name} (pid {proc.pid}) did not stop in {STOP_GRACE:g} s: killed",
              file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class _Stop(Exception):
    pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: the child gets SIGTERM when this process dies, even by SIGKILL (prctl
    PR_SET_PDEATHSIG), so no server outlives ``enumlab lab``. Elsewhere: nothing."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _wait_dns(proc: subprocess.Popen[bytes], log: Path, port: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "serving" in text:
            return text.splitlines()[0]
        if proc.poll() is not None:
            raise LabServerError(f"the DNS lab did not start on 127.0.0.1:{port}: "
                                 f"{text.strip()[-300:] or 'no output'} (try --dns-port 5354)")
        time.sleep(0.1)
    raise LabServerError(f"the DNS lab did not answer on 127.0.0.1:{port} within 60 s")


def _wait_jupyter(proc: subprocess.Popen[bytes], log: Path, port: int, token: str) -> None:
    deadline = time.monotonic() + 120
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace").strip()[-400:]
                raise LabServerError(f"JupyterLab did not start on 127.0.0.1:{port}: {tail} "
                                     "(try --jupyter-port 8899)") from None
            time.sleep(0.3)
    raise LabServerError(f"JupyterLab did not answer on 127.0.0.1:{port} within 120 s")


def run(args: argparse.Namespace) -> int:
    dns_port, jupyter_port = args.dns_port, args.jupyter_port
    target: Path = args.dir
    report = copy_lab_files(target, force=args.force)
    where = target.resolve()
    print(f"enumlab: {where}: {len(report.copied)} file(s) copied, {len(report.unchanged)} "
          f"already there", flush=True)
    for relative in report.kept:
        print(f"  kept your {relative} (differs from the shipped one; --force replaces it)",
              flush=True)
    if args.copy_only:
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        raise ToolMissingError("JupyterLab is not installed: pip install 'enumlab[lab]'",
                               subject="jupyterlab")
    logs = where / ".enumlab-lab"
    logs.mkdir(exist_ok=True)
    token = secrets.token_hex(16)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    for sig in previous:
        signal.signal(sig, stop)
    try:
        dns_log = logs / "dns.log"
        with open(dns_log, "wb") as out:
            dns = subprocess.Popen([sys.executable, "-m", "enumlab.cli", "serve", "--host",
                                    "127.0.0.1", "--port", str(dns_port),
                                    str(where / "data" / "zones")],
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=_die_with_parent)
        children.append(("the DNS lab", dns))
        _wait_dns(dns, dns_log, dns_port)
        jupyter_log = logs / "jupyterlab.log"
        command = [sys.executable, "-m", "jupyterlab", "--no-browser",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={jupyter_port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                   f"--ServerApp.root_dir={where}", "--ServerApp.default_url=/lab/tree/notebooks",
                   "--ServerApp.answer_yes=True"]
        if os.geteuid() == 0:
            command.append("--allow-root")  # Jupyter refuses root without it (labs, CI)
        with open(jupyter_log, "wb") as out:
            jupyter = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       cwd=where, preexec_fn=_die_with_parent)
        children.append(("JupyterLab", jupyter))
        _wait_jupyter(jupyter, jupyter_log, jupyter_port, token)
        print(f"enumlab: DNS lab on 127.0.0.1:{dns_port} (pid {dns.pid}): "
              f"dig @127.0.0.1 -p {dns_port} NAPTR 3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", flush=True)
        print(f"enumlab: JupyterLab (pid {jupyter.pid}), logs in {logs}", flush=True)
        print(f"    open  http://127.0.0.1:{jupyter_port}/lab/tree/notebooks?token={token}",
              flush=True)
        print(f"    stop  Ctrl-C here, or kill -TERM {os.getpid()} (stops both)", flush=True)
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    raise LabServerError(f"{name} (pid {proc.pid}) stopped by itself "
                                         f"(exit {proc.returncode}); see {logs}")
            time.sleep(0.5)
    except (KeyboardInterrupt, _Stop):
        print("\nenumlab: stopping JupyterLab and the DNS lab", flush=True)
        return 0
    finally:
        for name, proc in reversed(children):
            _stop(proc, name)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
