"""NAPTR substitution expressions: RFC 3402 section 3.2 syntax, POSIX ERE semantics, safety."""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from enumlab import RegexpError, SubstitutionExpression, apply_regexp

# -- syntax: public vectors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regexp", "aus", "expected"),
    [
        # Asterisk tests/test_dns_naptr.c, valid records 8-11
        ("!.*!horse.mane!", "x", "horse.mane"),
        ("0.*0horse.mane0", "x", "horse.mane"),  # '0' is a legal delimiter (POS-DIGIT is 1-9)
        ("!.*!\\!\\!\\!!", "x", "!!!"),  # escaped delimiters in the replacement
        ("!(.)(.)(.)(.)!\\1.m.\\2.n\\3.o\\4!", "abcd", "a.m.b.nc.od"),
        # Metaswitch Sprout src/ut/enumservice_test.cpp
        ("!(^.*$)!sip:\\1@ut.cw-ngv.com!", "1234", "sip:1234@ut.cw-ngv.com"),
        # the seed's playground
        ("!^.*$!sip:service@server1.enum.nickvsnetworking.com!", "+61355500911",
         "sip:service@server1.enum.nickvsnetworking.com"),
        ("!(^.*$)!sip:+1\\1@server2.example!", "+61255502000",
         "sip:+1+61255502000@server2.example"),
        # other delimiters, escaped delimiter inside ERE and replacement, i flag
        ("/^\\+61(.*)$/sip:0\\1@x;p=a\\/b/i", "+61255503003", "sip:0255503003@x;p=a/b"),
        ("#^\\+1\\#?(.*)$#tel:\\1#", "+1#555", "tel:555"),
        ("!^ABC!x!i", "abc", "x"),
    ],
)
def test_valid_expressions(regexp: str, aus: str, expected: str) -> None:
    assert apply_regexp(regexp, aus) == expected


@pytest.mark.parametrize(
    ("regexp", "needle"),
    [
        # Asterisk tests/test_dns_naptr.c, rejected regexps
        ("!.*!horse.mane", "three '!' delimiters"),  # missing final delimiter
        ("!.*!horse.mane\\!", "three '!' delimiters"),  # final delimiter escaped
        ("!.*!horse!mane!", "unknown flags"),  # too many delimiters
        ("!.*!horse.mane!o", "unknown flags"),  # bad flag
        ("!.*!horse.\\0!", "\\0 is not a back-reference"),
        ("!(.*!horse.mane!", "unbalanced '('"),
        # Metaswitch Sprout bad regexps
        ("!1234", "three '!' delimiters"),
        ("!(!!", "unbalanced '('"),
        # delimiter rules (RFC 3402 section 3.2)
        ("1a1b1", "cannot be the delimiter"),
        ("ia!b!", "cannot be the delimiter"),
        ("\\a\\b\\", "cannot be the delimiter"),
        # replacement rules
        ("!(a)!\\2!", "group 2 but the ERE has 1"),
        ("!a!\\q!", "neither \\1-\\9 nor an escaped delimiter"),
        # not POSIX ERE
        ("!\\d+!x!", "Perl-style escape"),
        ("!\\w!x!", "[[:alnum:]_]"),
        ("!(a)\\1!x!", "back-references are not part of POSIX ERE"),
        ("!*a!x!", "nothing to repeat"),
        ("!a**!x!", "two repetition operators"),
        ("!^*!x!", "anchor cannot be repeated"),
        ("!a{3,1}!x!", "invalid interval"),
        ("!a{999}!x!", "invalid interval"),
        ("!a{2!x!", "never closed"),
        ("![abc!x!", "unterminated bracket"),
        ("![[:digits:]]!x!", "unknown character class"),
        ("![z-a]!x!", "invalid range"),
        ("!a)!x!", "unbalanced ')'"),
        ("!!x!", "the ERE is empty"),
        ("!" + "a" * 260 + "!x!", "longer than 255 octets"),
    ],
)
def test_invalid_expressions_raise_regexp_error(regexp: str, needle: str) -> None:
    with pytest.raises(RegexpError) as info:
        SubstitutionExpression.parse(regexp, record="test.e164.arpa.")
    assert needle in str(info.value)
    assert "test.e164.arpa." in str(info.value)  # the error names the record
    assert info.value.subject == regexp


# -- semantics: POSIX ERE where Python differs -----------------------------------------------


def test_alternation_is_leftmost_longest() -> None:
    expr = SubstitutionExpression.parse("!^\\+(1|12)!\\1!")
    assert expr.search("+1234") == (0, 3, ("12",))
    assert re.match(r"^\+(1|12)", "+1234").group(1) == "1"  # type: ignore[union-attr]


def test_bracket_classes_work_and_backslash_is_literal_inside_brackets() -> None:
    assert apply_regexp("!^\\+([[:digit:]]+)$!\\1!", "+61355") == "61355"
    assert apply_regexp("![\\d]!X!", "ad") == "aX"  # [\d] is '\' or 'd' in POSIX
    assert apply_regexp("![\\d]!X!", "a\\") == "aX"
    assert apply_regexp("![]a]!X!", "]") == "X"  # ']' first is literal
    assert apply_regexp("![^[:digit:]]!X!", "1a") == "1X"


def test_dot_matches_any_character_and_groups_may_be_unmatched() -> None:
    assert apply_regexp("!^(x)?(.*)$![\\1][\\2]!", "+61") == "[][+61]"


@pytest.mark.parametrize(
    ("regexp", "aus", "rfc3402", "replacement_only"),
    [
        # REFERENCE: Kamailio/Asterisk output "sip:", Python re.sub and Sprout "sip:5551234"
        ("!\\+1!sip:!", "+15551234", "sip:5551234", "sip:"),
        ("!\\+61!tel:0!", "+61255503002", "tel:0255503002", "tel:0"),
        # anchored ^...$ patterns agree
        ("!^\\+(.*)$!sip:\\1@x!", "+61355500912", "sip:61355500912@x", "sip:61355500912@x"),
    ],
)
def test_sed_and_replacement_only_readings(regexp: str, aus: str, rfc3402: str,
                                           replacement_only: str) -> None:
    assert apply_regexp(regexp, aus) == rfc3402
    assert apply_regexp(regexp, aus, output="replacement") == replacement_only


def test_no_match_returns_none() -> None:
    assert apply_regexp("!^\\+1!x!", "+61") is None


def test_unknown_output_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="output must be one of"):
        apply_regexp("!a!b!", "a", output="perl")  # type: ignore[arg-type]


# -- safety: bounded time and size -----------------------------------------------------------


@pytest.mark.parametrize(
    "regexp",
    [
        "!^(([[:digit:]]*)*)*x$!y!",  # nested stars: exponential for a backtracking engine
        "!^(1|1)*x$!y!",  # ambiguous alternation under a star
        "!^(1+)+x$!y!",
        "!^((1?){25}1{25})x$!y!",  # the classic (a?){n}a{n}
    ],
)
def test_hostile_patterns_finish_in_linear_time(regexp: str) -> None:
    expr = SubstitutionExpression.parse(regexp)
    subject = "1" * 20_000  # a backtracking engine would not finish on 40 characters
    start = time.perf_counter()
    assert expr.apply(subject) is None
    assert time.perf_counter() - start < 2.0


def test_pattern_needing_too_much_memory_is_refused() -> None:
    with pytest.raises(RegexpError, match="RE2 refused"):
        SubstitutionExpression.parse("!(((a{100}){100}){100})!x!")


def test_output_size_is_bounded() -> None:
    expr = SubstitutionExpression.parse("!^(.*)$!" + "\\1" * 100 + "!")
    with pytest.raises(RegexpError, match="limit"):
        expr.apply("+" + "1" * 100)


# -- differential: enumlab's ERE against glibc's regcomp/regexec ------------------------------


class _GlibcRegex:
    """POSIX regcomp/regexec from the C library, used as an oracle for ERE semantics."""

    REG_EXTENDED = 1

    class Match(ctypes.Structure):
        _fields_ = [("rm_so", ctypes.c_int), ("rm_eo", ctypes.c_int)]

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"))

    def search(self, pattern: str, subject: str) -> tuple[int, int] | None:
        preg = ctypes.create_string_buffer(256)
        if self.libc.regcomp(preg, pattern.encode(), self.REG_EXTENDED) != 0:
            raise ValueError(pattern)
        try:
            match = (self.Match * 1)()
            if self.libc.regexec(preg, subject.encode(), 1, match, 0) != 0:
                return None
            return match[0].rm_so, match[0].rm_eo
        finally:
            self.libc.regfree(preg)


_GLIBC = _GlibcRegex()

_atoms = st.sampled_from(["1", "2", "a", "\\+", ".", "[12]", "[^1]", "[[:digit:]]", "[a-z]"])


@st.composite
def _eres(draw: st.DrawFn, depth: int = 0) -> str:
    """Small random EREs over the alphabet 1, 2, a, + (one level of groups)."""
    branches = []
    for _ in range(draw(st.integers(1, 2))):
        pieces = []
        for _ in range(draw(st.integers(1, 3))):
            if depth < 1 and draw(st.booleans()):
                atom = "(" + draw(_eres(depth + 1)) + ")"
            else:
                atom = draw(_atoms)
            pieces.append(atom + draw(st.sampled_from(["", "", "*", "+", "?", "{1,2}"])))
        branches.append("".join(pieces))
    return "|".join(branches)


@settings(max_examples=250, deadline=None)
@given(
    st.sampled_from(["", "^"]),
    _eres(),
    st.sampled_from(["", "$"]),
    st.text(alphabet="12a+", max_size=8),
)
def test_overall_match_agrees_with_glibc(head: str, body: str, tail: str, subject: str) -> None:
    ere = head + body + tail
    assume(len(ere) <= 120)
    expr = SubstitutionExpression.parse(f"!{ere}!x!")
    ours = expr.search(subject)
    assert (ours[:2] if ours else None) == _GLIBC.search(ere, subject), ere


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="!/\\()[]{}^$.*+?|:1a2-i", max_size=40), st.text(max_size=20))
def test_parser_never_crashes_on_arbitrary_text(text: str, aus: str) -> None:
    # Whatever a zone holds, the outcome is a parsed expression or a RegexpError, never a crash.
    try:
        expr = SubstitutionExpression.parse(text)
    except RegexpError:
        return
    result = expr.apply(aus)
    assert result is None or isinstance(result, str)
