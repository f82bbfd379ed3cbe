"""A fast, strict reader of BIND master files (RFC 1035 section 5), records in wire form.

dnspython's zone parser reads ~1-4 k records/s here and is quadratic in the size of one RRset,
so a 100,000-name ENUM zone took a minute and 100,000 NAPTRs at one name never loaded. This
reader does the same job at >= 20,000 names/s: lines without quotes, escapes or parentheses
are split with ``str.split``; the rest go through a small tokenizer; the record types the lab
uses (A, AAAA, NS, CNAME, PTR, DNAME, MX, SOA, TXT, SPF, SRV, NAPTR) are encoded straight to
wire form, any other type through dnspython's own rdata parser (RFC 3597 ``\\#`` included).

Syntax (RFC 1035 s5.1, with BIND's extensions): ``$ORIGIN``, ``$TTL`` (RFC 2308 s4),
``$INCLUDE file [origin]`` (only inside the zone's directory unless allowed), ``@``, a blank
owner meaning the previous owner, TTL and class in either order, TTL units (``1h30m``),
parentheses across lines, ``;`` comments, quoted character-strings with ``\\X`` and ``\\DDD``.
Every problem is a :class:`~enumlab.core.errors.ZoneError` naming the file and the line.
"""

from __future__ import annotations

import re
import socket
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ZoneError

MAX_LABEL = 63  # RFC 1035 s2.3.4
MAX_NAME = 255
MAX_INCLUDE_DEPTH = 8
# A budget on what one zone may read through $INCLUDE: 8 levels of 5 includes each is 390,625
# reads from 49 lines. BIND has no such budget; a lab server loading operator zones needs one.
MAX_INCLUDE_FILES = 1_000
MAX_ZONE_BYTES = 4 << 30
MAX_TTL = 0x7FFFFFFF  # RFC 2181 s8
# A comment line in a zone's top file that makes enumlab serve NAPTR records whose REGEXP
# named refuses (the lab's teaching zone of broken records uses it: clients must skip them).
SERVE_INVALID_NAPTR = "; enumlab: serve-invalid-naptr"
PROGRESS_MIN_BYTES = 4_000_000

TYPE_CODES: dict[str, int] = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
    "SRV": 33, "NAPTR": 35, "DNAME": 39, "DS": 43, "SSHFP": 44, "RRSIG": 46, "NSEC": 47,
    "DNSKEY": 48, "TLSA": 52, "SVCB": 64, "HTTPS": 65, "SPF": 99, "CAA": 257, "URI": 256,
    "HINFO": 13, "RP": 17, "LOC": 29, "CERT": 37, "NSEC3": 50, "NSEC3PARAM": 51,
}
# types of messages, never of zones (RFC 6895 s3.1): named by name so the refusal says which
META_CODES: dict[str, int] = {
    "OPT": 41, "TKEY": 249, "TSIG": 250, "IXFR": 251, "AXFR": 252, "MAILB": 253, "MAILA": 254,
    "ANY": 255,
}
TYPE_NAMES = {code: name for name, code in (TYPE_CODES | META_CODES).items()}
_NAME_RDATA = frozenset({2, 5, 12, 39})
_CLASSES = {"IN": 1, "CH": 3, "HS": 4}
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TTL_RE = re.compile(r"(\d+)([smhdw]?)", re.IGNORECASE)
_SPECIAL = re.compile(r'["();\\]')
# named: "unbalanced quotes" / a syntax error; its lexer takes no quoted string there
_QUOTED_FIELD = "a quoted string where a name, TTL, class or type belongs"


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    """One record as read: owner and rdata in uncompressed wire form (owner case kept)."""

    owner: bytes
    ttl: int
    rdtype: int
    rdata: bytes
    line: int
    file: str


def type_code(text: str) -> int | None:
    """``NAPTR`` -> 35, ``TYPE65280`` -> 65280 (RFC 3597 s5); None if not a type. Meta types
    (``OPT``, ``ANY``, ``TYPE0`` ...) are types: :func:`is_meta_type` tells them apart."""
    upper = text.upper()
    code = TYPE_CODES.get(upper) or META_CODES.get(upper)
    if code is not None:
        return code
    if upper.startswith("TYPE") and upper[4:].isdigit() and upper[4:].isascii():
        value = int(upper[4:])
        return value if 0 <= value < 65536 else None
    return None


def type_text(code: int) -> str:
    return TYPE_NAMES.get(code) or f"TYPE{code}"


def is_meta_type(code: int) -> bool:
    """True for the types that only live in messages (RFC 6895 s3.1: 0, OPT 41 and the
    Q-types and meta-types 128-255): named refuses them in a zone ("invalid use of a meta
    type"), and so does enumlab's reader."""
    return code in (0, 41) or 128 <= code <= 255


def parse_ttl(text: str) -> int | None:
    """``3600`` or BIND's ``1h30m`` as a 32-bit number; None when ``text`` is not one.

    A value above 2^31 - 1 is returned as it is: record TTLs are capped by
    :func:`record_ttl` (RFC 2181 s8), SOA timers are plain 32-bit numbers (RFC 1035 s3.3.13).
    """
    if text.isdigit():
        value = int(text)
    else:
        pos, value = 0, 0
        for m in _TTL_RE.finditer(text):
            if m.start() != pos or not m.group(2):
                return None
            value += int(m.group(1)) * _TTL_UNITS[m.group(2).lower()]
            pos = m.end()
        if pos != len(text) or pos == 0:
            return None
    return value if value <= 0xFFFFFFFF else None


def record_ttl(value: int) -> int:
    """A TTL with the most significant bit set is read as 0 (RFC 2181 s8), as named does
    ("$TTL 2147483648 > MAXTTL, setting $TTL to 0")."""
    return value if value <= MAX_TTL else 0


_ESCAPE = re.compile(rb"\\(\d{3}|.)", re.DOTALL)


def _unescape(text: str, where: Callable[[str], ZoneError]) -> bytes:
    """Master-file escapes: ``\\X`` is X, ``\\DDD`` the byte DDD (RFC 1035 s5.1)."""
    data = text.encode("utf-8")
    if b"\\" not in data:
        return data
    if data.endswith(b"\\") and (len(data) - len(data.rstrip(b"\\"))) % 2:
        raise where(f"dangling backslash in {text!r}")

    def byte(m: re.Match[bytes]) -> bytes:
        esc = m.group(1)
        if len(esc) == 3:
            value = int(esc)
            if value > 255:
                raise where(f"escape \\{esc.decode()} is not a byte")
            return bytes((value,))
        return esc

    return _ESCAPE.sub(byte, data)


def name_to_wire(text: str, origin: bytes | None, where: Callable[[str], ZoneError]) -> bytes:
    """A master-file name (absolute, relative to ``origin``, or ``@``) in wire form."""
    if text == "@":
        if origin is None:
            raise where("'@' used before any $ORIGIN")
        return origin
    if text == ".":
        return b"\x00"
    absolute = text.endswith(".") and not text.endswith("\\.")
    if absolute:
        text = text[:-1]
    if "\\" in text:
        labels, current, i = [], [], 0
        while i < len(text):
            if text[i] == "\\" and i + 1 < len(text):
                if text[i + 1 : i + 4].isdigit():
                    current.append(text[i : i + 4])
                    i += 4
                else:
                    current.append(text[i : i + 2])
                    i += 2
            elif text[i] == ".":
                labels.append("".join(current))
                current = []
                i += 1
            else:
                current.append(text[i])
                i += 1
        labels.append("".join(current))
        raw = [_unescape(label, where) for label in labels]
    else:
        raw = [label.encode("ascii", "strict") if label.isascii() else label.encode("utf-8")
               for label in text.split(".")]
    out = bytearray()
    for label in raw:
        if not label:
            raise where(f"empty label in name {text!r}")
        if len(label) > MAX_LABEL:
            raise where(f"label of {len(label)} bytes in {text!r} (at most 63, RFC 1035 s2.3.4)")
        out.append(len(label))
        out += label
    if absolute:
        out.append(0)
    else:
        if origin is None:
            raise where(f"relative name {text!r} before any $ORIGIN")
        out += origin
    if len(out) > MAX_NAME:
        raise where(f"name {text!r} is {len(out)} bytes in wire form (at most 255)")
    return bytes(out)


def wire_to_text(wire: bytes) -> str:
    """Presentation form of an uncompressed wire name (escaping as RFC 4343 s2.1)."""
    labels, i = [], 0
    while wire[i]:
        n = wire[i]
        label = wire[i + 1 : i + 1 + n]
        if all(33 <= b < 127 and b not in b'.\\"();@$' for b in label):
            labels.append(label.decode("ascii"))
        else:
            labels.append("".join(
                chr(b) if 33 <= b < 127 and b not in b'.\\"();@$' else
                ("\\" + chr(b) if b in b'.\\"();@$' else f"\\{b:03d}") for b in label))
        i += n + 1
    return ".".join(labels) + "."


def _charstring(token: str, where: Callable[[str], ZoneError]) -> bytes:
    data = _unescape(token, where)
    if len(data) > 255:
        raise where(f"character-string of {len(data)} bytes (at most 255, RFC 1035 s3.3)")
    return bytes((len(data),)) + data


def _u16(token: str, what: str, where: Callable[[str], ZoneError]) -> bytes:
    if not token.isdigit() or int(token) > 65535:
        raise where(f"{what} {token!r} is not a number 0..65535")
    return struct.pack("!H", int(token))


def _u32_ttl(token: str, what: str, where: Callable[[str], ZoneError]) -> bytes:
    value = parse_ttl(token)
    if value is None:
        raise where(f"{what} {token!r} is not a number")
    return struct.pack("!I", value)


class _Tokens:
    """Tokens of one logical record: values, and whether each was quoted."""

    __slots__ = ("quoted", "raw", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self.quoted: list[bool] = []
        self.raw: list[str] = []


# One token per match: a quoted string (escapes kept for _unescape), a parenthesis, a
# comment (ends the line), or a plain word (backslash escapes kept).
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([()])|(;.*)|((?:[^\s"();\\]|\\.)+)|(\S)')


def _tokenize(text: str, lines: Iterator[tuple[int, str]], first: int,
              where: Callable[[str], ZoneError]) -> _Tokens:
    """Tokenize one record, pulling more lines while parentheses are open."""
    toks = _Tokens()
    values, quoted, raw = toks.values, toks.quoted, toks.raw
    depth = 0
    while True:
        for m in _TOKEN.finditer(text):
            q, paren, comment, word, stray = m.groups()
            if q is not None:
                values.append(q)
                quoted.append(True)
                raw.append(m.group(0))
            elif word is not None:
                values.append(word)
                quoted.append(False)
                raw.append(word)
            elif paren is not None:
                depth += 1 if paren == "(" else -1
                if depth < 0:
                    raise where("')' without '('")
            elif comment is not None:
                break
            else:
                raise where("unterminated quoted string" if stray == '"'
                            else f"unexpected {stray!r}")
        if depth == 0:
            return toks
        try:
            _, text = next(lines)
        except StopIteration:
            raise where(f"'(' opened on line {first} is never closed") from None


def _split_quoted(line: str) -> tuple[list[str], list[bool], list[str]] | None:
    """The common quoted line (NAPTR, TXT) split in C: None when it needs the tokenizer
    (an escaped quote, parentheses or a comment outside quotes, an odd number of quotes)."""
    if '\\"' in line:
        return None
    parts = line.split('"')
    if len(parts) % 2 == 0:
        return None
    values: list[str] = []
    quoted: list[bool] = []
    raw: list[str] = []
    for i, part in enumerate(parts):
        if i % 2:
            values.append(part)
            quoted.append(True)
            raw.append(f'"{part}"')
        else:
            if "(" in part or ")" in part or ";" in part or "\\" in part:
                return None
            words = part.split()
            values += words
            quoted += [False] * len(words)
            raw += words
    return values, quoted, raw


class ZoneFileReader:
    """Reads one zone file (and its ``$INCLUDE``s) into :class:`ZoneRecord` s."""

    def __init__(self, path: str | Path, origin: str | None = None, *,
                 allow_include_outside: bool = False, progress: bool | None = None) -> None:
        self.path = Path(path)
        self.root = self.path.resolve().parent
        self.allow_include_outside = allow_include_outside
        self.origin_text = origin
        self.progress = progress
        self.records: list[ZoneRecord] = []
        self.origin: bytes | None = None
        self._ttls: tuple[int | None, int | None] = (None, None)
        self.files_read = 0
        self.bytes_read = 0
        self.serve_invalid_naptr = False

    # -- errors ---------------------------------------------------------------------------

    def _error_at(self, file: Path, line: int) -> Callable[[str], ZoneError]:
        def make(message: str) -> ZoneError:
            return ZoneError(f"zone file {file} line {line}: {message}",
                             subject=f"{file}:{line}")
        return make

    # -- reading --------------------------------------------------------------------------

    def read(self) -> list[ZoneRecord]:
        origin = None
        if self.origin_text is not None:
            origin = name_to_wire(self.origin_text.rstrip(".") + ".", None,
                                  self._error_at(self.path, 0))
        self._read_file(self.path, origin, depth=0)
        if self.origin is None:  # nothing but comments and directives: the origin given
            self.origin = origin
        return self.records

    def _open_text(self, path: Path) -> str:
        if path.is_dir():
            raise ZoneError(f"zone file {path} is a directory, not a zone file",
                            subject=str(path))
        if not path.exists():
            raise ZoneError(f"zone file {path} does not exist", subject=str(path))
        self.files_read += 1
        if self.files_read > MAX_INCLUDE_FILES:
            raise ZoneError(f"zone file {self.path}: more than {MAX_INCLUDE_FILES:,} files "
                            f"read through $INCLUDE (the last {path}): refused",
                            subject=str(self.path))
        try:
            size = path.stat().st_size
            if self.bytes_read + size > MAX_ZONE_BYTES:
                raise ZoneError(f"zone file {self.path}: more than {MAX_ZONE_BYTES:,} bytes "
                                f"read with its $INCLUDEs (at {path}): refused",
                                subject=str(self.path))
            data = path.read_bytes()
        except OSError as exc:
            raise ZoneError(f"zone file {path}: {exc.strerror}", subject=str(path)) from exc
        self.bytes_read += len(data)
        if not data.strip():
            raise ZoneError(f"zone file {path} is empty", subject=str(path))
        nul = data.find(b"\x00")
        if nul >= 0:
            line = data.count(b"\n", 0, nul) + 1
            raise ZoneError(f"zone file {path} line {line}: binary data (a NUL byte): not a "
                            "text zone file", subject=f"{path}:{line}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ZoneError(f"zone file {path} line {line}: not UTF-8 text (byte "
                            f"0x{data[exc.start]:02x}): not a text zone file",
                            subject=f"{path}:{line}") from exc

    def _read_file(self, path: Path, origin: bytes | None, depth: int) -> None:
        text = self._open_text(path)
        if depth == 0:
            self.serve_invalid_naptr = (text.startswith(SERVE_INVALID_NAPTR)
                                        or "\n" + SERVE_INVALID_NAPTR in text)
        bar = None
        if (self.progress or (self.progress is None and sys.stderr.isatty())) and \
                len(text) >= PROGRESS_MIN_BYTES:
            from tqdm import tqdm

            bar = tqdm(total=len(text), unit="B", unit_scale=True, desc=f"loading {path.name}",
                       file=sys.stderr, leave=False)
        try:
            self._read_lines(path, text, origin, depth, bar)
        finally:
            if bar is not None:
                bar.close()

    def _read_lines(self, path: Path, text: str, origin: bytes | None, depth: int,
                    bar: object) -> None:
        records = self.records
        append = records.append
        file = str(path)
        default_ttl, last_ttl = self._ttls  # an included file starts with the includer's
        owner: bytes | None = None
        lines = iter(enumerate(text.split("\n"), 1))
        special = _SPECIAL.search
        done_bytes = 0
        for lineno, line in lines:
            if bar is not None:
                done_bytes += len(line) + 1
                if lineno % 20000 == 0:
                    bar.update(done_bytes)  # type: ignore[attr-defined]
                    done_bytes = 0
            if not line or line.isspace():
                continue
            where = self._error_at(path, lineno)
            if special(line) is None:
                values = line.split()
                quoted = None
                raw = values
            elif (split := _split_quoted(line)) is not None:
                values, quoted, raw = split
                if not values:
                    continue
            else:
                toks = _tokenize(line, lines, lineno, where)
                values, quoted, raw = toks.values, toks.quoted, toks.raw
                if not values:
                    continue
            first = values[0]
            if first[:1] == "$" and not line[0].isspace() and not (quoted and quoted[0]):
                directive = first.upper()
                if directive == "$ORIGIN":
                    if len(values) != 2:
                        raise where("$ORIGIN takes one name")
                    origin = name_to_wire(values[1], origin, where)
                    if self.origin is None:
                        self.origin = origin
                elif directive == "$TTL":
                    parsed_ttl = parse_ttl(values[1]) if len(values) == 2 else None
                    if parsed_ttl is None:
                        raise where("$TTL takes one TTL")
                    default_ttl = record_ttl(parsed_ttl)
                elif directive == "$INCLUDE":
                    self._ttls = (default_ttl, last_ttl)
                    self._include(path, values, origin, depth, where)
                else:
                    raise where(f"{first} is not supported (only $ORIGIN, $TTL, $INCLUDE)")
                continue
            if self.origin is None:
                self.origin = origin
            # owner
            pos = 0
            if line[0] in " \t":
                if owner is None:
                    raise where("record without an owner name")
            else:
                if not first:  # named: "unexpected end of input"; a quoted owner is a name
                    raise where("an empty quoted string where the owner name belongs")
                owner = name_to_wire(first, origin, where)
                pos = 1
            # [ttl] [class] in either order
            ttl: int | None = None
            klass = False
            for _ in range(2):
                if pos >= len(values):
                    break
                tok = values[pos]
                if quoted is not None and quoted[pos]:
                    raise where(_QUOTED_FIELD)
                if ttl is None and tok[:1].isdigit():
                    parsed = parse_ttl(tok)
                    if parsed is None:
                        raise where(f"{tok!r} is not a TTL")
                    ttl = record_ttl(parsed)
                    pos += 1
                elif tok.upper() in _CLASSES:
                    if klass:  # named: "unknown RR type 'IN'"
                        raise where(f"a second class {tok!r} where the type belongs (one "
                                    "class, only IN)")
                    if tok.upper() != "IN":
                        raise where(f"class {tok} is not served (only IN)")
                    klass = True
                    pos += 1
            if pos >= len(values):
                raise where("record without a type")
            if quoted is not None and quoted[pos]:
                raise where(_QUOTED_FIELD)
            rdtype = type_code(values[pos])
            if rdtype is None:
                raise where(f"unknown record type {values[pos]!r}")
            if is_meta_type(rdtype):
                raise where(f"type {type_text(rdtype)} is a meta type, never zone data "
                            "(RFC 6895 s3.1; named: invalid use of a meta type)")
            pos += 1
            if ttl is None:
                ttl = default_ttl if default_ttl is not None else last_ttl
                if ttl is None and rdtype == 6 and len(values) >= pos + 7:
                    minimum = parse_ttl(values[pos + 6])
                    ttl = None if minimum is None else record_ttl(minimum)
                if ttl is None:
                    raise where("no TTL: give one or a $TTL")
            last_ttl = ttl
            rdata = self._rdata(rdtype, values[pos:], None if quoted is None else quoted[pos:],
                                raw[pos:], origin, where)
            append(ZoneRecord(owner, ttl, rdtype, rdata, lineno, file))

    def _include(self, path: Path, values: list[str], origin: bytes | None, depth: int,
                 where: Callable[[str], ZoneError]) -> None:
        if len(values) not in (2, 3):
            raise where("$INCLUDE takes a file name and an optional origin")
        if depth >= MAX_INCLUDE_DEPTH:
            raise where(f"$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH}")
        target = (path.parent / values[1]).resolve()
        if not self.allow_include_outside and not target.is_relative_to(self.root):
            raise where(f"$INCLUDE {values[1]} leaves the zone directory {self.root}: refused "
                        "(allow it explicitly with allow_include_outside=True)")
        inc_origin = name_to_wire(values[2], origin, where) if len(values) == 3 else origin
        if not target.exists():
            raise where(f"$INCLUDE {values[1]}: file not found")
        self._read_file(target, inc_origin, depth + 1)

    # -- rdata ----------------------------------------------------------------------------

    def _rdata(self, rdtype: int, v: list[str], quoted: list[bool] | None, raw: list[str],
               origin: bytes | None, where: Callable[[str], ZoneError]) -> bytes:
        if v and v[0] == "\\#" and (quoted is None or not quoted[0]):
            return _generic_rdata(v, where)
        try:
            if rdtype == 35:  # NAPTR, RFC 3403 s4
                if len(v) != 6:
                    raise where(f"NAPTR needs 6 fields, got {len(v)}")
                return (_u16(v[0], "ORDER", where) + _u16(v[1], "PREFERENCE", where)
                        + _charstring(v[2], where) + _charstring(v[3], where)
                        + _charstring(v[4], where) + name_to_wire(v[5], origin, where))
            if rdtype == 1:
                if len(v) != 1 or v[0].count(".") != 3:
                    raise where(f"A needs one IPv4 address, got {' '.join(v)!r}")
                return socket.inet_pton(socket.AF_INET, v[0])
            if rdtype == 28:
                if len(v) != 1:
                    raise where(f"AAAA needs one IPv6 address, got {' '.join(v)!r}")
                return socket.inet_pton(socket.AF_INET6, v[0])
            if rdtype == 33:  # SRV, RFC 2782
                if len(v) != 4:
                    raise where(f"SRV needs 4 fields, got {len(v)}")
                return (_u16(v[0], "priority", where) + _u16(v[1], "weight", where)
                        + _u16(v[2], "port", where) + name_to_wire(v[3], origin, where))
            if rdtype in _NAME_RDATA:
                if len(v) != 1:
                    raise where(f"{type_text(rdtype)} needs one name, got {' '.join(v)!r}")
                return name_to_wire(v[0], origin, where)
            if rdtype == 15:
                if len(v) != 2:
                    raise where("MX needs a preference and a name")
                return _u16(v[0], "preference", where) + name_to_wire(v[1], origin, where)
            if rdtype == 6:  # SOA, RFC 1035 s3.3.13
                if len(v) != 7:
                    raise where(f"SOA needs 7 fields, got {len(v)}")
                return (name_to_wire(v[0], origin, where) + name_to_wire(v[1], origin, where)
                        + b"".join(_u32_ttl(t, "SOA timer", where) for t in v[2:]))
            if rdtype in (16, 99):
                if not v:
                    raise where("TXT needs at least one character-string")
                return b"".join(_charstring(t, where) for t in v)
        except OSError as exc:  # inet_pton
            raise where(f"{type_text(rdtype)}: {' '.join(v)!r} is not an address") from exc
        return rdata_to_wire(rdtype, " ".join(raw), origin, where)


def _generic_rdata(v: list[str], where: Callable[[str], ZoneError]) -> bytes:
    """RFC 3597 s5: ``\\# LENGTH HEX...``."""
    if len(v) < 2 or not v[1].isdigit():
        raise where("generic rdata needs '\\# LENGTH HEX'")
    try:
        data = bytes.fromhex("".join(v[2:]))
    except ValueError as exc:
        raise where("generic rdata: bad hex") from exc
    if len(data) != int(v[1]):
        raise where(f"generic rdata says {v[1]} bytes, has {len(data)}")
    return data


def rdata_to_wire(rdtype: int, text: str, origin: bytes | None,
                     where: Callable[[str], ZoneError]) -> bytes:
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    try:
        base = dns.name.from_wire(origin, 0)[0] if origin else None
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rdtype),
                                    text, origin=base, relativize=False)
        wire = rdata.to_wire()
        assert wire is not None
        return wire
    except (dns.exception.DNSException, ValueError) as exc:
        raise where(f"{type_text(rdtype)} {text!r}: {exc}") from exc


def read_zone_file(path: str | Path, origin: str | None = None, *,
                   allow_include_outside: bool = False, progress: bool | None = None
                   ) -> tuple[bytes | None, list[ZoneRecord]]:
    """(origin in wire form or None, records) of one zone file."""
    reader = ZoneFileReader(path, origin, allow_include_outside=allow_include_outside,
                            progress=progress)
    records = reader.read()
    return reader.origin, records


def is_subdomain(name: bytes, parent: bytes) -> bool:
    """True when wire name ``name`` (lower-case) is ``parent`` or below it, label-wise."""
    while True:
        if name == parent:
            return True
        if name == b"\x00":
            return False
        name = name[name[0] + 1 :]


def zone_excerpt(zones: str | Path, name: str, rdtype: str | None = None) -> str:
    """The zone-file lines that answer ``name`` (and ``rdtype``): its own records, or -- when
    it has none -- the wildcard of the closest ancestor that would synthesise them (RFC 4592),
    each as ``file:line: text`` from the files in ``zones`` (a file or a directory)."""
    where = Path(zones)
    files = sorted(p for p in where.iterdir() if p.suffix in (".zone", ".db")) if where.is_dir() \
        else [where]
    wanted = name_to_wire(name if name.endswith(".") else name + ".", None,
                          lambda m: ZoneError(m, subject=name)).lower()
    code = type_code(rdtype) if rdtype else None
    by_owner: dict[bytes, list[ZoneRecord]] = {}
    for path in files:
        for record in read_zone_file(path)[1]:
            by_owner.setdefault(record.owner.lower(), []).append(record)
    hits = by_owner.get(wanted)
    if not hits:  # the wildcard of the closest ancestor that has one
        parent = wanted
        while parent != b"\x00" and not hits:
            parent = parent[parent[0] + 1:]
            hits = by_owner.get(b"\x01*" + parent)
    chosen = [r for r in hits or [] if code is None or r.rdtype == code]
    lines = []
    cache: dict[str, list[str]] = {}
    for r in chosen:
        text = cache.setdefault(r.file, Path(r.file).read_text(errors="replace").splitlines())
        lines.append(f"{Path(r.file).name}:{r.line}: {text[r.line - 1].strip()}")
    return "\n".join(dict.fromkeys(lines)) or f"(no records for {name} in {where})"


__all__ = ["ZoneFileReader", "ZoneRecord", "name_to_wire", "read_zone_file", "type_code",
           "type_text", "wire_to_text", "zone_excerpt"]
