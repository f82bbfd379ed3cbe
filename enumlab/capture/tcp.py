"""DNS over TCP: stream reassembly and RFC 7766 s8 framing (a two-byte length before each
message).

Runs in Python over the few packets that are TCP segments of DNS connections. Each direction
of a connection is reassembled by sequence number (RFC 9293): a retransmitted segment is
counted once, out-of-order segments wait for the gap before them to fill, and each message is
emitted in the frame whose arrival completed it -- several messages in one segment, one
message across several. What the capture cannot show is said, never invented: a stream that
starts without its SYN is framed from its first segment (and says so), a gap that never fills
stops the framing of that direction (the bytes after it are counted, not decoded), and a
message the capture ends inside is reported with how much of it was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


@dataclass(slots=True)
class TcpMessage:
    first_row: int  # the earliest packet row that carried any byte of it
    last_row: int  # packet row whose arrival completed the message
    data: bytes
    direction: tuple[Any, ...]


@dataclass
class _Direction:
    key: tuple[Any, ...]
    base: int | None = None
    next: int = 0  # bytes delivered in order so far
    buffer: bytearray = field(default_factory=bytearray)
    first_row: int = -1
    pending: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    mid_stream: bool = False
    duplicates: int = 0
    stuck_at: int | None = None
    last_row: int = -1


@dataclass
class TcpResult:
    messages: list[TcpMessage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    note_rows: list[int] = field(default_factory=list)  # the packet row each note is about
    mid_stream_rows: list[int] = field(default_factory=list)  # first row of streams with no SYN
    retransmitted_segments: int = 0
    streams: int = 0
    retransmitted_rows: list[int] = field(default_factory=list)  # each one's packet row


def _name(key: tuple[Any, ...]) -> str:
    src, sport, dst, dport = key
    return f"{src}:{sport} -> {dst}:{dport}"


def reassemble(segments: list[tuple[int, tuple[Any, ...], int, int, bytes]]) -> TcpResult:
    """``segments``: (packet row, (src, sport, dst, dport), sequence number, TCP flags,
    payload), in capture order. Returns the DNS messages and what could not be framed."""
    streams = Reassembler()
    streams.feed(segments)
    return streams.close()


class Reassembler:
    """The same, fed batch after batch (each in capture order, batches in order): a capture
    read in pieces keeps only its open streams' state between them -- the bytes of a message
    not yet complete, segments waiting for a gap to fill. :meth:`take` hands over the messages
    completed so far; :meth:`close` ends every stream (what could not be framed is said)."""

    def __init__(self) -> None:
        self.result = TcpResult()
        self.streams: dict[tuple[Any, ...], _Direction] = {}

    def take(self) -> list[TcpMessage]:
        """The messages completed since the last call."""
        out, self.result.messages = self.result.messages, []
        return out

    def close(self) -> TcpResult:
        for d in self.streams.values():
            _close(d, self.result)
        self.streams = {}
        return self.result

    def feed(self, segments: list[tuple[int, tuple[Any, ...], int, int, bytes]]) -> None:
        result, streams = self.result, self.streams
        for row, key, seq, flags, payload in segments:
            d = streams.get(key)
            if flags & SYN:
                if d is not None and (d.buffer or d.pending):
                    _close(d, result)
                d = streams[key] = _Direction(key, base=(seq + 1) & 0xFFFFFFFF)
                result.streams += 1
                if not payload:
                    continue
                seq = (seq + 1) & 0xFFFFFFFF
            if not payload:
                continue
            if d is None:
                d = streams[key] = _Direction(key, base=seq, mid_stream=True)
                result.streams += 1
                result.notes.append(f"TCP {_name(key)}: the capture starts mid-stream (no SYN); "
                                    "messages framed from the first segment seen")
                result.note_rows.append(row)
                result.mid_stream_rows.append(row)
            d.last_row = row
            if d.base is None:
                d.base = seq
            rel = (seq - d.base) & 0xFFFFFFFF
            if rel >= 0x80000000:  # before the stream's start: an old retransmission
                d.duplicates += 1
                result.retransmitted_rows.append(row)
                continue
            if rel + len(payload) <= d.next:
                d.duplicates += 1
                result.retransmitted_rows.append(row)
                continue
            if rel > d.next:
                if rel in d.pending:
                    d.duplicates += 1
                    result.retransmitted_rows.append(row)
                else:
                    d.pending[rel] = (payload, row)
                continue
            _deliver(d, payload[d.next - rel:], row, row, result)
            while d.pending:
                ahead = [r for r in d.pending if r <= d.next]
                if not ahead:
                    break
                for r in sorted(ahead):
                    data, from_row = d.pending.pop(r)
                    if r + len(data) > d.next:
                        _deliver(d, data[d.next - r:], from_row, row, result)
                    else:
                        d.duplicates += 1
                        result.retransmitted_rows.append(from_row)


def _deliver(d: _Direction, data: bytes, from_row: int, now_row: int, result: TcpResult) -> None:
    size = len(data)
    if d.stuck_at is not None:
        d.next += size
        return
    d.next += size
    if not d.buffer:  # the usual case: whole messages read straight from the segment
        d.first_row = from_row
        at = 0
        while at + 2 <= size:
            end = at + 2 + ((data[at] << 8) | data[at + 1])
            if end > size:
                break
            result.messages.append(TcpMessage(from_row, now_row, data[at + 2:end], d.key))
            at = end
        if at < size:
            d.buffer += data[at:] if at else data
        return
    d.first_row = min(d.first_row, from_row)
    d.buffer += data
    while len(d.buffer) >= 2:
        size = (d.buffer[0] << 8) | d.buffer[1]
        if len(d.buffer) < 2 + size:
            break
        result.messages.append(TcpMessage(d.first_row, now_row, bytes(d.buffer[2:2 + size]),
                                          d.key))
        del d.buffer[:2 + size]
        d.first_row = from_row


def _close(d: _Direction, result: TcpResult) -> None:
    result.retransmitted_segments += d.duplicates
    if d.pending:
        gap_at = d.next
        after = sum(len(data) for data, _ in d.pending.values())
        result.notes.append(
            f"TCP {_name(d.key)}: {min(d.pending) - gap_at} byte(s) missing at stream offset "
            f"{gap_at} (never captured); {after} byte(s) in {len(d.pending)} segment(s) after "
            "the gap not decoded: message boundaries cannot be known past it")
        result.note_rows.append(d.last_row)
    elif d.buffer:
        size = (d.buffer[0] << 8) | d.buffer[1] if len(d.buffer) >= 2 else None
        what = f"a {size}-byte message" if size is not None else "a length prefix"
        result.notes.append(f"TCP {_name(d.key)}: the capture ends {len(d.buffer)} byte(s) "
                            f"into {what}: not decoded")
        result.note_rows.append(d.last_row)
    d.pending.clear()
    d.buffer.clear()
