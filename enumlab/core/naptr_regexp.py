"""NAPTR substitution expressions: RFC 3402 section 3.2, with POSIX ERE semantics.

A substitution expression is ``<delim> ERE <delim> replacement <delim> [i]``::

    subst-expr   = delim-char ere delim-char repl delim-char *flags
    delim-char   = any character except POS-DIGIT (1-9), a flag ("i") -- and, here, "\\"
    repl         = *(string / backref);  backref = "\\" POS-DIGIT  (no \\0)
    escapeddelim = "\\" delim-char       (stands for the delimiter itself)

The ERE is a POSIX Extended Regular Expression, not a Perl/Python one. enumlab parses it and
translates it to RE2 syntax, then matches with RE2 in *leftmost-longest* mode:

* ``[[:digit:]]`` and the other POSIX classes work; inside ``[...]`` a backslash is literal;
* ``\\d``, ``\\w``, ``\\s`` and other backslash-letter escapes are not ERE and are refused with an
  explanation (glibc would silently read ``\\d`` as the letter ``d``);
* alternation is leftmost-longest: ``^\\+(1|12)`` on ``+1234`` captures ``12`` (Python's ``re``
  captures ``1``);
* back-references inside the ERE are BRE-only and are refused.

Why RE2: regexps come from DNS data and are untrusted. RE2 runs in time linear in the input and
in memory capped by ``max_mem``, so no record can hang a resolver (``benchmarks/bench_regexp.py``
compares it with the ``regex`` module's POSIX mode, which backtracks and must rely on a timeout).
Sizes are bounded too: at most 255 octets of expression (a DNS character-string) and
:data:`MAX_OUTPUT` characters of output.

Output: RFC 3402 derives the substitution from sed's ``s`` command, which replaces the *matched
part* of the string and keeps the rest (``"rfc3402"``, the default). Kamailio and Asterisk
output the replacement alone (``"replacement"``). The two agree for anchored ``^...$`` patterns;
for ``!\\+1!sip:!`` on ``+15551234`` they give ``sip:5551234`` and ``sip:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import re2

from .errors import RegexpError

OutputMode = Literal["rfc3402", "replacement"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("rfc3402", "replacement")
MAX_EXPRESSION_OCTETS = 255
MAX_OUTPUT = 2048
MAX_REPEAT = 255  # RE_DUP_MAX in glibc
RE2_MAX_MEM = 1 << 20
_POSIX_CLASSES = frozenset(
    ["alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
     "upper", "xdigit"]
)
_ERE_SPECIALS = frozenset(".[\\()*+?{|^$")
_PERL_HINTS = {
    "d": "use [0-9] or [[:digit:]]",
    "w": "use [[:alnum:]_]",
    "s": "use [[:space:]]",
    "D": "use [^0-9]",
    "W": "use [^[:alnum:]_]",
    "S": "use [^[:space:]]",
}


def _ascii_digits(text: str) -> bool:
    """0-9 only (``str.isdigit`` also takes Unicode digits, which RE2 and POSIX do not)."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class SubstitutionExpression:
    """A parsed, compiled NAPTR REGEXP field. Build it with :meth:`parse`."""

    text: str
    delimiter: str
    ere: str
    replacement: str
    case_insensitive: bool
    groups: int
    re2_pattern: str
    _compiled: Any = field(repr=False, compare=False)
    _template: tuple[str | int, ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, *, record: str = "") -> SubstitutionExpression:
        """Parse and compile ``text``; raise :class:`RegexpError` naming ``record`` if invalid."""
        where = f"{record}: " if record else ""

        def fail(reason: str) -> RegexpError:
            return RegexpError(f"{where}regexp {text!r}: {reason}", subject=text)

        if len(text.encode("utf-8")) > MAX_EXPRESSION_OCTETS:
            raise fail("longer than 255 octets")
        if len(text) < 3:
            raise fail("too short for <delim>ERE<delim>replacement<delim>")
        delim = text[0]
        if delim in "123456789" or delim in "iI" or delim == "\\":
            raise fail(f"{delim!r} cannot be the delimiter (RFC 3402 section 3.2)")
        sections: list[list[str]] = [[]]
        i, flags = 1, None
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                if i + 1 >= len(text):
                    raise fail("ends with a lone backslash")
                sections[-1].append(text[i : i + 2])
                i += 2
                continue
            if ch == delim:
                if len(sections) == 2:
                    flags = text[i + 1 :]
                    break
                sections.append([])
            else:
                sections[-1].append(ch)
            i += 1
        if flags is None:
            raise fail(f"needs three {delim!r} delimiters (is the last one missing or escaped?)")
        if flags not in ("", "i"):
            raise fail(f"unknown flags {flags!r}: only 'i' is defined (or an extra delimiter)")
        ere_tokens, repl_tokens = sections
        if not ere_tokens:
            raise fail("the ERE is empty")
        pattern, groups = _EreTranslator(ere_tokens, delim, fail).translate()
        template = _parse_replacement(repl_tokens, delim, groups, fail)
        options = re2.Options()
        options.longest_match = True
        options.log_errors = False
        options.max_mem = RE2_MAX_MEM
        options.dot_nl = True
        options.case_sensitive = flags != "i"
        try:
            compiled = re2.compile(pattern, options)
        except re2.error as exc:
            raise fail(f"RE2 refused it: {exc}") from exc
        return cls(
            text=text,
            delimiter=delim,
            ere="".join(ere_tokens),
            replacement="".join(repl_tokens),
            case_insensitive=flags == "i",
            groups=groups,
            re2_pattern=pattern,
            _compiled=compiled,
            _template=template,
        )

    def search(self, aus: str) -> tuple[int, int, tuple[str | None, ...]] | None:
        """Leftmost-longest match in ``aus``: (start, end, groups) or None."""
        m = self._compiled.search(aus)
        if m is None:
            return None
        return m.start(), m.end(), tuple(m.group(n) for n in range(1, self.groups + 1))

    def apply(self, aus: str, *, output: OutputMode = "rfc3402") -> str | None:
        """Apply to the AUS; return the result, or None when the ERE does not match.

        ``output="rfc3402"`` replaces the matched part (sed ``s``); ``"replacement"`` returns the
        expanded replacement alone (Kamailio, Asterisk).
        """
        if output not in OUTPUT_MODES:
            raise ValueError(f"output must be one of {OUTPUT_MODES}, not {output!r}")
        found = self.search(aus)
        if found is None:
            return None
        start, end, groups = found
        parts = [
            piece if isinstance(piece, str) else (groups[piece - 1] or "")
            for piece in self._template
        ]
        expanded = "".join(parts)
        result = expanded if output == "replacement" else aus[:start] + expanded + aus[end:]
        if len(result) > MAX_OUTPUT:
            raise RegexpError(
                f"regexp {self.text!r} produced {len(result)} characters (limit {MAX_OUTPUT})",
                subject=self.text,
            )
        return result


def apply_regexp(text: str, aus: str, *, output: OutputMode = "rfc3402") -> str | None:
    """Parse ``text`` and apply it to ``aus`` (convenience for notebooks and the CLI)."""
    return SubstitutionExpression.parse(text).apply(aus, output=output)


def _parse_replacement(
    tokens: list[str], delim: str, groups: int, fail: Any
) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for tok in tokens:
        if len(tok) == 1:
            out.append(tok)
            continue
        ch = tok[1]
        if ch == delim:
            out.append(delim)
        elif ch in "123456789":
            n = int(ch)
            if n > groups:
                raise fail(f"\\{n} refers to group {n} but the ERE has {groups} group(s)")
            out.append(n)
        elif ch == "0":
            raise fail("\\0 is not a back-reference in RFC 3402 (use a group and \\1)")
        elif ch == "\\":
            out.append("\\")
        else:
            raise fail(f"\\{ch} in the replacement is neither \\1-\\9 nor an escaped delimiter")
    merged: list[str | int] = []
    for piece in out:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + piece
        else:
            merged.append(piece)
    return tuple(merged)


def _re2_literal(ch: str) -> str:
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\x{{{ord(ch):X}}}"


class _EreTranslator:
    """Recursive-descent POSIX ERE parser emitting an equivalent RE2 pattern."""

    def __init__(self, tokens: list[str], delim: str, fail: Any) -> None:
        self.tokens = tokens
        self.delim = delim
        self.fail = fail
        self.pos = 0
        self.groups = 0
        self.depth = 0

    def translate(self) -> tuple[str, int]:
        out = self._regex()
        if self.pos != len(self.tokens):
            raise self.fail("unbalanced ')' in the ERE")
        return out, self.groups

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _regex(self) -> str:
        branches = [self._branch()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._branch())
        return "|".join(branches)

    def _branch(self) -> str:
        pieces: list[str] = []
        while (tok := self._peek()) is not None and tok not in ("|", ")"):
            pieces.append(self._piece())
        return "".join(pieces)

    def _piece(self) -> str:
        tok = self._peek()
        if tok in ("*", "+", "?", "{"):
            raise self.fail(f"{tok!r} has nothing to repeat")
        atom, repeatable = self._atom()
        dup = self._dup()
        if dup:
            if not repeatable:
                raise self.fail("an anchor cannot be repeated")
            if self._peek() in ("*", "+", "?", "{"):
                raise self.fail("two repetition operators in a row are undefined in POSIX ERE")
            return atom + dup
        return atom

    def _dup(self) -> str:
        tok = self._peek()
        if tok in ("*", "+", "?"):
            self.pos += 1
            return tok
        if tok != "{":
            return ""
        self.pos += 1
        body = ""
        while (t := self._peek()) is not None and t != "}":
            body += t
            self.pos += 1
        if self._peek() != "}":
            raise self.fail("'{' starts an interval that is never closed")
        self.pos += 1
        low, comma, high = body.partition(",")
        if not _ascii_digits(low) or (high and not _ascii_digits(high)):
            raise self.fail(f"invalid interval {{{body}}}")
        lo = int(low)
        hi = int(high) if high else None
        if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
            raise self.fail(f"invalid interval {{{body}}} (bounds 0..{MAX_REPEAT}, low <= high)")
        return "{" + body + "}" if comma else "{" + low + "}"

    def _atom(self) -> tuple[str, bool]:
        tok = self.tokens[self.pos]
        self.pos += 1
        if len(tok) == 2:  # backslash escape
            ch = tok[1]
            if ch == self.delim or ch in _ERE_SPECIALS or (not ch.isalnum() and ch.isascii()):
                return _re2_literal(ch), True
            if ch.isdigit():
                raise self.fail(f"\\{ch}: back-references are not part of POSIX ERE")
            hint = _PERL_HINTS.get(ch, "it is not POSIX ERE")
            raise self.fail(f"\\{ch} is a Perl-style escape, not POSIX ERE: {hint}")
        if tok == "(":
            self.groups += 1
            self.depth += 1
            inner = self._regex()
            if self._peek() != ")":
                raise self.fail("unbalanced '(' in the ERE")
            self.pos += 1
            self.depth -= 1
            return "(" + inner + ")", True
        if tok == ")":
            raise self.fail("unbalanced ')' in the ERE")
        if tok in ("^", "$"):
            return tok, False
        if tok == ".":
            return ".", True
        if tok == "[":
            return self._bracket(), True
        return _re2_literal(tok), True

    def _next_raw(self) -> str:
        tok = self._peek()
        if tok is None:
            raise self.fail("unterminated bracket expression '['")
        self.pos += 1
        return tok

    def _bracket(self) -> str:
        # Inside brackets every character is literal, backslash included (POSIX).
        chars: list[str] = []
        for tok in self.tokens[self.pos :]:
            chars.extend(tok)  # split escape pairs back into two literal characters
        i = 0
        negate = False
        if i < len(chars) and chars[i] == "^":
            negate, i = True, i + 1
        items: list[str] = []
        first = True
        while True:
            if i >= len(chars):
                raise self.fail("unterminated bracket expression '['")
            ch = chars[i]
            if ch == "]" and not first:
                i += 1
                break
            first = False
            if ch == "[" and i + 1 < len(chars) and chars[i + 1] in ":=.":
                kind = chars[i + 1]
                end = "".join(chars).find(kind + "]", i + 2)
                if end < 0:
                    raise self.fail(f"unterminated '[{kind}' in a bracket expression")
                name = "".join(chars[i + 2 : end])
                i = end + 2
                if kind == ":":
                    if name not in _POSIX_CLASSES:
                        raise self.fail(f"unknown character class [:{name}:]")
                    items.append(f"[:{name}:]")
                    continue
                if len(name) != 1:
                    raise self.fail(f"multi-character collating element [{kind}{name}{kind}]")
                low = name
            else:
                low = ch
                i += 1
            if i + 1 < len(chars) and chars[i] == "-" and chars[i + 1] != "]":
                high = chars[i + 1]
                i += 2
                if high == "[" and i < len(chars) and chars[i] in ".=":
                    raise self.fail("collating elements as range ends are not supported")
                if ord(high) < ord(low):
                    raise self.fail(f"invalid range {low}-{high} in a bracket expression")
                items.append(_re2_literal(low) + "-" + _re2_literal(high))
            else:
                items.append(_re2_literal(low))
        # Re-sync the token position with the characters consumed.
        consumed, k = 0, self.pos
        while consumed < i:
            consumed += len(self.tokens[k])
            k += 1
        if consumed != i:
            raise self.fail("a backslash escape straddles the end of a bracket expression")
        self.pos = k
        return "[" + ("^" if negate else "") + "".join(items) + "]"
