"""DNS messages (RFC 1035 s4.1): header, question, and the EDNS0 OPT record (RFC 6891 s6).

One kernel call (:func:`decode_messages`) decodes a block of messages given as (offset,
length) into a buffer and fills :data:`DCOL` integers per message. Nothing per message is a
Python object: the QNAME is hashed while it is walked (two 32-bit FNV-1a side by side over its
case-folded wire form, 63 bits kept), and its text is decoded afterwards only once per distinct hash
(:func:`qname_text`). Answer and authority records are stepped over to reach the additional
section, where the first OPT record gives the UDP payload size, the extended RCODE (high 8 bits
of the 12-bit RCODE), the EDNS version, the DO bit and the option codes.

``D_STATUS`` says how far decoding got: ``OK``; ``SHORT`` (under 12 bytes: no header);
``BAD_NAME`` (a QNAME with a reserved label type, a forward or looping compression pointer, or
over 255 bytes: RFC 1035 s3.1, s4.1.4); ``QUESTION_CUT`` (the message ends inside the
question); ``RECORDS_CUT`` (the question is whole but a record runs past the end);
``MULTIPLE_OPT`` (every record read, but the additional section holds more than one OPT
record: RFC 6891 s6.1.1, "it MUST be the only OPT RR in that message"; a server answers such
a query FORMERR).
"""

from __future__ import annotations

from typing import Any

from .jit import helper

OK, SHORT, BAD_NAME, QUESTION_CUT, RECORDS_CUT, MULTIPLE_OPT, BAD_OPTION, QUESTIONS = range(8)
STATUS_NAMES = {OK: "", SHORT: "shorter than a DNS header", BAD_NAME: "undecodable QNAME",
                QUESTION_CUT: "cut inside the question", RECORDS_CUT: "a record runs past the end",
                MULTIPLE_OPT: "more than one OPT record (RFC 6891 s6.1.1)",
                BAD_OPTION: "an EDNS option runs past its OPT record (RFC 6891 s6.1.2)",
                QUESTIONS: "more than one question in a QUERY (RFC 9619: one; only the "
                           "first is read)"}
(D_ID, D_FLAGS, D_QD, D_AN, D_NS, D_AR, D_STATUS, D_QNAME_OFF, D_QHASH, D_QTYPE, D_QCLASS,
 D_EDNS, D_EDNS_SIZE, D_EDNS_EXT, D_EDNS_VERSION, D_EDNS_DO, D_NOPTS, D_QNAME_WIRE) = range(18)
DCOL = 18
MAX_OPTS = 4  # option codes kept per message (the count is kept whole)
# two 32-bit FNV-1a hashes side by side: no product ever overflows 64 bits, so compiled and
# interpreted kernels give the same value (a 64-bit FNV overflows, and numba wraps it)
FNV_OFFSET_A, FNV_OFFSET_B = 2166136261, 3735928559
FNV_PRIME_A, FNV_PRIME_B = 16777619, 16777259
MASK32 = 0xFFFFFFFF


@helper
def decode_one(buf: Any, m: int, size: int, out: Any, opts: Any, i: int) -> None:
    """Decode the message at ``m`` (``size`` bytes) into row ``i`` of ``out`` and ``opts``."""
    end = m + size
    out[i, D_QTYPE] = -1
    out[i, D_QCLASS] = -1
    out[i, D_QNAME_OFF] = -1
    out[i, D_EDNS_SIZE] = -1
    for k in range(opts.shape[1]):
        opts[i, k] = -1
    if size < 12:
        out[i, D_STATUS] = SHORT
        if size >= 2:
            out[i, D_ID] = (buf[m] << 8) | buf[m + 1]
        return
    out[i, D_ID] = (buf[m] << 8) | buf[m + 1]
    out[i, D_FLAGS] = (buf[m + 2] << 8) | buf[m + 3]
    qd = (buf[m + 4] << 8) | buf[m + 5]
    an = (buf[m + 6] << 8) | buf[m + 7]
    ns = (buf[m + 8] << 8) | buf[m + 9]
    ar = (buf[m + 10] << 8) | buf[m + 11]
    out[i, D_QD] = qd
    out[i, D_AN] = an
    out[i, D_NS] = ns
    out[i, D_AR] = ar
    p = m + 12
    status = OK
    # -- questions: the first one is hashed (its pointers followed, at most 16 jumps and 255
    # bytes), the rest stepped over without following a pointer: the work per message is
    # bounded by its size (10,800 questions pointing at one 255-byte name cost what their
    # 2 bytes each do, not 255)
    for qi in range(qd):
        ha = FNV_OFFSET_A
        hb = FNV_OFFSET_B
        q = p
        jumps = 0
        wire = 0
        after = -1  # where the question continues after a compression pointer
        while True:
            if q >= end:
                status = QUESTION_CUT
                break
            ln = buf[q]
            if ln == 0:
                ha = (ha * FNV_PRIME_A) & MASK32
                hb = (hb * FNV_PRIME_B) & MASK32
                wire += 1
                q += 1
                break
            if ln & 0xC0 == 0xC0:
                if q + 1 >= end:
                    status = QUESTION_CUT
                    break
                target = m + (((ln & 0x3F) << 8) | buf[q + 1])
                if target >= q or jumps >= 16:
                    status = BAD_NAME
                    break
                if qi > 0:  # a later question is stepped over: a pointer ends its name
                    q += 2
                    break
                if after < 0:
                    after = q + 2
                jumps += 1
                q = target
                continue
            if ln & 0xC0 != 0:
                status = BAD_NAME
                break
            if q + 1 + ln > end:
                status = QUESTION_CUT
                break
            wire += 1 + ln
            if wire > 255:
                status = BAD_NAME
                break
            ha = ((ha ^ ln) * FNV_PRIME_A) & MASK32
            hb = ((hb ^ ln) * FNV_PRIME_B) & MASK32
            for k in range(q + 1, q + 1 + ln):
                c = buf[k]
                if c >= 65 and c <= 90:
                    c += 32
                ha = ((ha ^ c) * FNV_PRIME_A) & MASK32
                hb = ((hb ^ c) * FNV_PRIME_B) & MASK32
            q += 1 + ln
        if status != OK:
            break
        if after >= 0:
            q = after
        if q + 4 > end:
            status = QUESTION_CUT
            break
        if qi == 0:
            out[i, D_QNAME_OFF] = p
            out[i, D_QHASH] = ((ha & 0x7FFFFFFF) << 32) | hb
            out[i, D_QNAME_WIRE] = wire
            out[i, D_QTYPE] = (buf[q] << 8) | buf[q + 1]
            out[i, D_QCLASS] = (buf[q + 2] << 8) | buf[q + 3]
        p = q + 4
    if status != OK:
        out[i, D_STATUS] = status
        return
    # -- answer, authority: stepped over; additional: the first OPT is read -------------
    opt_records = 0
    bad_option = 0
    for r in range(an + ns + ar):
        q = p
        while True:  # owner name: labels, ending in a zero or a pointer
            if q >= end:
                status = RECORDS_CUT
                break
            ln = buf[q]
            if ln == 0:
                q += 1
                break
            if ln & 0xC0 == 0xC0:
                q += 2
                break
            if ln & 0xC0 != 0:
                status = RECORDS_CUT
                break
            q += 1 + ln
        if status != OK or q + 10 > end:
            status = RECORDS_CUT
            break
        rtype = (buf[q] << 8) | buf[q + 1]
        rdlen = (buf[q + 8] << 8) | buf[q + 9]
        if q + 10 + rdlen > end:
            status = RECORDS_CUT
            break
        if r >= an + ns and rtype == 41:
            opt_records += 1
        if r >= an + ns and rtype == 41 and out[i, D_EDNS] == 0 and q == p + 1:
            out[i, D_EDNS] = 1
            out[i, D_EDNS_SIZE] = (buf[q + 2] << 8) | buf[q + 3]
            out[i, D_EDNS_EXT] = buf[q + 4]
            out[i, D_EDNS_VERSION] = buf[q + 5]
            out[i, D_EDNS_DO] = buf[q + 6] >> 7
            o = q + 10
            stop = o + rdlen
            count = 0
            while o + 4 <= stop:
                code = (buf[o] << 8) | buf[o + 1]
                olen = (buf[o + 2] << 8) | buf[o + 3]
                if count < opts.shape[1]:
                    opts[i, count] = code
                count += 1
                o += 4 + olen
            if o != stop:  # an option's length past the RDATA, or bytes no option holds
                bad_option = 1
            out[i, D_NOPTS] = count
        p = q + 10 + rdlen
    if status == OK and opt_records > 1:
        status = MULTIPLE_OPT
    elif status == OK and bad_option:
        status = BAD_OPTION
    elif status == OK and out[i, D_QD] > 1 and (out[i, D_FLAGS] >> 11) & 0xF == 0:
        status = QUESTIONS
    out[i, D_STATUS] = status


def decode_messages(buf: Any, off: Any, length: Any, out: Any, opts: Any, lo: int,
                    hi: int) -> None:
    """Decode messages ``lo..hi-1`` of ``off`` / ``length`` (see module docs; two threads
    take a half each). ``opts`` is (n, MAX_OPTS), -1 filled."""
    for i in range(lo, hi):
        decode_one(buf, off[i], length[i], out, opts, i)


def names_blob(buf: Any, start: Any, wire: Any, out: Any, slow: Any, ends: Any) -> int:
    """Write the lower-case text of the uncompressed names at ``start`` into ``out``, each
    followed by a newline ("" for the root) whose offset goes into ``ends``; ``slow[i]`` = 1
    where a name needs :func:`qname_text` (a compression pointer, or a byte that must be
    escaped: such a byte is written as ``?``, so the only newlines in ``out`` are the
    separators whatever bytes a label holds -- a name is data, not text). A name is read
    only within its ``wire`` bytes (and ``out`` written only within its room): an index the
    kernel checks itself. Returns the bytes written."""
    w = 0
    for i in range(len(start)):
        q = start[i]
        stop = q + wire[i]
        room = w + wire[i]  # the caller gives each name its wire length of room
        first = True
        for _ in range(128):
            if q >= stop or q >= len(buf):
                slow[i] = 1
                break
            ln = buf[q]
            if ln == 0:
                break
            if ln >= 64 or q + 1 + ln > stop or q + 1 + ln > len(buf) or w + ln + 1 > room:
                slow[i] = 1
                break
            if not first:
                out[w] = 46
                w += 1
            first = False
            for k in range(q + 1, q + 1 + ln):
                c = buf[k]
                if c < 33 or c > 126 or c == 46 or c == 92:
                    # escaped later (qname_text); never a raw byte here: the newline that
                    # ends each name must be the only one in the blob
                    slow[i] = 1
                    c = 63
                if c >= 65 and c <= 90:
                    c += 32
                out[w] = c
                w += 1
            q += 1 + ln
        out[w] = 10
        ends[i] = w
        w += 1
    return w


# dig's presentation of label bytes: control and non-ASCII bytes as \DDD, "." and "\" escaped
_ESCAPED = {c: f"\\{c:03d}" for c in (*range(33), *range(127, 256))} | {46: "\\.", 92: "\\\\"}


def qname_text(msg: bytes, start: int) -> tuple[str, bool]:
    """The QNAME at ``start`` of ``msg`` as lower-case text without the final dot (root:
    ``<Root>``, as tshark writes it) and whether it decoded, in the presentation form dig
    writes (RFC 1035 s5.1): a dot or a backslash inside a label as ``\\.`` / ``\\\\``, bytes
    outside printable ASCII as ``\\DDD`` (a newline is ``\\010``)."""
    labels: list[str] = []
    q, jumps = start, 0
    while q < len(msg):
        ln = msg[q]
        if ln == 0:
            return (".".join(labels) if labels else "<Root>"), True
        if ln & 0xC0 == 0xC0 and q + 1 < len(msg):
            target = ((ln & 0x3F) << 8) | msg[q + 1]
            if target >= q or jumps >= 16:
                break
            q, jumps = target, jumps + 1
            continue
        if ln & 0xC0 or q + 1 + ln > len(msg):
            break
        raw = msg[q + 1: q + 1 + ln].lower()
        labels.append("".join(_ESCAPED.get(c) or chr(c) for c in raw))
        q += 1 + ln
    return ".".join(labels), False
