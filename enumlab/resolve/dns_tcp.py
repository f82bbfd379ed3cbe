"""DNS over TCP framing with deadlines, shared by the server and the resolver (I/O edge).

Over TCP each DNS message is preceded by its length in two bytes (RFC 1035 s4.2.2, RFC 7766
s8). A per-``recv`` timeout lets a peer that sends one byte every few seconds hold a
connection forever; here every read has a deadline for the whole message instead.
"""

from __future__ import annotations

import socket
import time


def recv_exact(sock: socket.socket, n: int, deadline: float, *,
               message_seconds: float | None = None) -> tuple[bytes, float]:
    """``n`` bytes before ``deadline`` (``time.monotonic``), and the deadline in force.

    With ``message_seconds``, once the first byte is in the deadline becomes that many seconds
    from then: a wait for a message to start, then a deadline for the whole message. Raises
    TimeoutError, or ConnectionResetError when the peer closes first.
    """
    buf = b""
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(buf)} of {n} bytes before the deadline")
        sock.settimeout(remaining)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError("connection closed mid-message")
        if message_seconds is not None and not buf:
            deadline = time.monotonic() + message_seconds
        buf += chunk
    return buf, deadline
