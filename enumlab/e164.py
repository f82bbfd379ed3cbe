"""E.164 numbers and their ENUM domains (ITU-T E.164, RFC 6116 section 2.4).

The Application Unique String (AUS) of ENUM is the full E.164 number as ``+`` followed by
digits only, e.g. ``+61355500912``. Visual separators a person types (spaces, ``-``, ``.``,
``(``, ``)``, ITU-T E.123) carry no meaning and are dropped. ``+61 3 5550 0912``,
``+61-3-5550-0912`` and ``+61 (3) 5550.0912`` are the same number.

Converters come in pairs: :func:`to_enum_domain` / :func:`from_enum_domain`.
"""

from __future__ import annotations

from .errors import InvalidNumberError

DEFAULT_SUFFIX = "e164.arpa."
MAX_DIGITS = 15  # ITU-T E.164 section 6: at most 15 digits, country code included
_VISUAL_SEPARATORS = frozenset(" \t-.()/\u00a0")


def normalize(
    text: str,
    *,
    international: bool = False,
    country_code: str | None = None,
    trunk_prefix: str = "0",
) -> str:
    """Return the AUS ``+<digits>`` for a number a person typed.

    * ``+61 3 5550 0912`` -> ``+61355500912`` (a leading ``+`` makes it international);
    * ``61355500912`` with ``international=True`` -> ``+61355500912``;
    * ``03 5550 0912`` with ``country_code="61"`` -> ``+61355500912`` (the national trunk
      prefix, ``0`` by default, is removed before the country code is added).

    Without ``+``, ``international`` or ``country_code`` a number is ambiguous and rejected:
    enumlab never guesses a country. Letters, an empty input, a country code starting with 0
    and more than 15 digits (ITU-T E.164 section 6) raise :class:`InvalidNumberError`.
    """
    if not isinstance(text, str):
        raise InvalidNumberError(f"expected text, got {type(text).__name__}", subject=text)
    stripped = "".join(ch for ch in text.strip() if ch not in _VISUAL_SEPARATORS)
    if not stripped:
        raise InvalidNumberError(f"empty number: {text!r}", subject=text)
    has_plus = stripped.startswith("+")
    digits = stripped[1:] if has_plus else stripped
    bad = [ch for ch in digits if not ("0" <= ch <= "9")]
    if bad:
        raise InvalidNumberError(
            f"{text!r} is not an E.164 number: {bad[0]!r} is not a digit", subject=text
        )
    if not digits:
        raise InvalidNumberError(f"{text!r} has no digits", subject=text)
    if not has_plus:
        if country_code is not None:
            if not country_code.isdigit() or not 1 <= len(country_code) <= 3:
                raise InvalidNumberError(
                    f"country code {country_code!r} must be 1 to 3 digits", subject=country_code
                )
            if trunk_prefix and digits.startswith(trunk_prefix):
                digits = digits[len(trunk_prefix) :]
            digits = country_code + digits
        elif not international:
            raise InvalidNumberError(
                f"{text!r} has no leading '+': say it is international or give a country code",
                subject=text,
            )
    if digits[0] == "0":
        raise InvalidNumberError(
            f"{text!r}: an E.164 country code never starts with 0", subject=text
        )
    if len(digits) > MAX_DIGITS:
        raise InvalidNumberError(
            f"{text!r} has {len(digits)} digits; E.164 allows at most {MAX_DIGITS}", subject=text
        )
    return "+" + digits


def _normalize_suffix(suffix: str) -> str:
    suffix = suffix.strip()
    if not suffix or suffix == ".":
        raise InvalidNumberError("the ENUM suffix must be a domain name", subject=suffix)
    return suffix if suffix.endswith(".") else suffix + "."


def to_enum_domain(number: str, suffix: str = DEFAULT_SUFFIX) -> str:
    """Return the ENUM domain of a number (RFC 6116 section 2.4, steps 1-4).

    Drop everything but the digits, reverse them, put a dot between each, append the
    suffix: ``+61 3 5550 0912`` -> ``2.1.9.0.0.5.5.5.3.1.6.e164.arpa.``. ``number`` must be
    international (leading ``+``); call :func:`normalize` first for national forms.
    """
    aus = normalize(number)
    return ".".join(reversed(aus[1:])) + "." + _normalize_suffix(suffix)


def from_enum_domain(domain: str, suffix: str = DEFAULT_SUFFIX) -> str:
    """Return the AUS of an ENUM domain, the inverse of :func:`to_enum_domain`.

    Unlike ``dns.e164.to_e164`` this refuses a name that is not single digits under the
    suffix instead of mapping it to something else.
    """
    suffix = _normalize_suffix(suffix)
    name = domain.strip()
    if not name.endswith("."):
        name += "."
    if not name.lower().endswith("." + suffix.lower()):
        raise InvalidNumberError(f"{domain!r} is not under the ENUM suffix {suffix}",
                                 subject=domain)
    labels = name[: -len(suffix) - 1].split(".")
    if not all(len(label) == 1 and label.isdigit() for label in labels):
        raise InvalidNumberError(
            f"{domain!r}: every label above {suffix} must be a single digit", subject=domain
        )
    return normalize("+" + "".join(reversed(labels)))
