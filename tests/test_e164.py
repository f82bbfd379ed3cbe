"""E.164 normalisation and ENUM domains (RFC 6116 section 2.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enumlab import InvalidNumberError, from_enum_domain, normalize, to_enum_domain


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        ("+61355500912", {}, "+61355500912"),
        ("+61 3 5550 0912", {}, "+61355500912"),  # spaces are visual separators (E.123)
        ("+61-3-5550-0912", {}, "+61355500912"),
        ("+61 (3) 5550.0912", {}, "+61355500912"),
        ("  +1.650.555.1212 ", {}, "+16505551212"),  # dnspython's own example
        ("61355500912", {"international": True}, "+61355500912"),
        ("03 5550 0912", {"country_code": "61"}, "+61355500912"),  # trunk 0 dropped
        ("3 5550 0912", {"country_code": "61"}, "+61355500912"),
        ("+123456789012345", {}, "+123456789012345"),  # exactly 15 digits
    ],
)
def test_normalize_accepts(text: str, kwargs: dict[str, object], expected: str) -> None:
    assert normalize(text, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kwargs", "needle"),
    [
        ("", {}, "empty"),
        ("   ", {}, "empty"),
        ("+", {}, "no digits"),
        ("+61 3 5550 O912", {}, "'O' is not a digit"),  # letter O, not zero
        ("sip:+61355500912", {}, "not a digit"),
        ("+1234567890123456", {}, "at most 15"),  # 16 digits
        ("61355500912", {}, "no leading '+'"),  # ambiguous without context
        ("+0355500912", {}, "never starts with 0"),
        ("0355500912", {"country_code": "6a"}, "country code"),
        ("+61#355", {}, "not a digit"),
    ],
)
def test_normalize_rejects_with_named_input(text: str, kwargs: dict[str, object], needle: str
                                            ) -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize(text, **kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)
    assert info.value.subject in (text, kwargs.get("country_code"))


def test_enum_domain_of_the_seed_example() -> None:
    assert to_enum_domain("+61 3 5550 0912") == "2.1.9.0.0.5.5.5.3.1.6.e164.arpa."
    assert to_enum_domain("+1 650 555 1212") == "2.1.2.1.5.5.5.0.5.6.1.e164.arpa."  # dnspython
    assert to_enum_domain("+61355500912", "e164.lab") == "2.1.9.0.0.5.5.5.3.1.6.e164.lab."


@pytest.mark.parametrize(
    "domain",
    [
        "2.1.9.0.0.5.5.5.3.1.6.e164.org.",  # other suffix
        "2.1.x.0.e164.arpa.",  # not a digit
        "21.9.0.e164.arpa.",  # two digits in one label
        "e164.arpa.",  # nothing above the suffix
    ],
)
def test_from_enum_domain_refuses_what_dnspython_would_map(domain: str) -> None:
    with pytest.raises(InvalidNumberError):
        from_enum_domain(domain)


@given(st.text(alphabet="0123456789", min_size=1, max_size=15).filter(lambda s: s[0] != "0"))
def test_domain_round_trip(digits: str) -> None:
    number = "+" + digits
    domain = to_enum_domain(number)
    assert from_enum_domain(domain) == number
    assert domain.count(".") == len(digits) + 2


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=15).filter(lambda s: s[0] != "0"),
    st.lists(st.sampled_from([" ", "-", ".", "(", ")"]), max_size=6),
    st.randoms(use_true_random=False),
)
def test_separators_never_change_the_number(digits: str, seps: list[str], rnd: object) -> None:
    chars = list(digits)
    for sep in seps:
        chars.insert(rnd.randrange(len(chars) + 1), sep)  # type: ignore[attr-defined]
    assert normalize("+" + "".join(chars)) == "+" + digits


@given(st.text(max_size=30))
def test_normalize_never_crashes(text: str) -> None:
    try:
        out = normalize(text)
    except InvalidNumberError:
        return
    assert out.startswith("+") and out[1:].isdigit() and len(out) <= 16
