"""E.164 numbers and their ENUM domains (ITU-T E.164, RFC 6116 section 2.4).

The Application Unique String (AUS) of ENUM is the full E.164 number as ``+`` followed by
digits only, e.g. ``+61355500912``. Visual separators a person types (spaces, ``-``, ``.``,
``(``, ``)``, ITU-T E.123) carry no meaning and are dropped. ``+61 3 5550 0912``,
``+61-3-5550-0912`` and ``+61 (3) 5550.0912`` are the same number.

Converters come in pairs: :func:`to_enum_domain` / :func:`from_enum_domain`.
"""

from __future__ import annotations

from .errors import InvalidNumberError, shown

DEFAULT_SUFFIX = "e164.arpa."
MAX_DIGITS = 15  # ITU-T E.164 section 6: at most 15 digits, country code included
_VISUAL_SEPARATORS = frozenset(" \t-.()/\u00a0")


def is_ascii_digits(text: str) -> bool:
    """True for ``0``-``9`` only: ``str.isdigit`` also takes Arabic-Indic, full-width and other
    Unicode digits, which are no E.164 digits (ITU-T E.164 s6: digits 0-9)."""
    return text.isascii() and text.isdigit()


def international_prefix(country_code: str) -> str:
    """The prefix dialled before a country code: ``011`` in the North American Numbering Plan
    (country code 1), ``00`` elsewhere (ITU-T E.164 Annex A lists them; ``00`` is the ITU-T
    recommended prefix, ITU-T E.164 s6.2.1)."""
    return "011" if country_code == "1" else "00"


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
      prefix, ``0`` by default, is removed before the country code is added);
    * ``00 61 3 5550 0912`` with ``country_code="61"`` -> ``+61355500912``: dialled with the
      international prefix (``00``, or ``011`` for country code 1), so it is already
      international; the prefix is dropped and ``country_code`` is not added.

    Without ``+``, ``international`` or ``country_code`` a number is ambiguous and rejected:
    enumlab never guesses a country. Letters, Unicode digits other than 0-9, an empty input,
    a country code starting with 0 and more than 15 digits (ITU-T E.164 section 6) raise
    :class:`InvalidNumberError`; the message names the input as typed, cut to 80 characters.
    """
    if not isinstance(text, str):
        raise InvalidNumberError(f"a number must be text, not {type(text).__name__}",
                                 subject=text)
    if country_code is not None and not isinstance(country_code, str):
        raise InvalidNumberError(
            f"a country code must be text such as '61', not {type(country_code).__name__}",
            subject=country_code)
    if not isinstance(trunk_prefix, str):
        raise InvalidNumberError("a trunk prefix must be text such as '0'", subject=trunk_prefix)
    stripped = "".join(ch for ch in text.strip() if ch not in _VISUAL_SEPARATORS)
    if not stripped:
        raise InvalidNumberError(f"empty number: {shown(text)}", subject=text)
    has_plus = stripped.startswith("+")
    digits = stripped[1:] if has_plus else stripped
    bad = [ch for ch in digits if not ("0" <= ch <= "9")]
    if bad:
        what = (f"{bad[0]!r} is a Unicode digit, not 0-9" if bad[0].isdigit()
                else f"{bad[0]!r} is not a digit")
        raise InvalidNumberError(f"{shown(text)} is not an E.164 number: {what}", subject=text)
    if not digits:
        raise InvalidNumberError(f"{shown(text)} has no digits", subject=text)
    if not has_plus:
        if country_code is not None:
            if not is_ascii_digits(country_code) or not 1 <= len(country_code) <= 3 or \
                    country_code[0] == "0":
                raise InvalidNumberError(
                    f"country code {shown(country_code)} must be 1 to 3 digits 0-9, not "
                    "starting with 0", subject=country_code)
            prefix = international_prefix(country_code)
            if digits.startswith(prefix):
                digits = digits[len(prefix):]  # dialled internationally: already has its CC
            else:
                if trunk_prefix and digits.startswith(trunk_prefix):
                    digits = digits[len(trunk_prefix) :]
                digits = country_code + digits
        elif not international:
            raise InvalidNumberError(
                f"{shown(text)} has no leading '+': say it is international or give a country "
                "code", subject=text,
            )
        elif digits.startswith(("00", "011")):
            raise InvalidNumberError(
                f"{shown(text)} starts with an international prefix (00 or 011): write it with "
                "'+' instead of the prefix, or give the country code of the caller",
                subject=text)
    if not digits or digits[0] == "0":
        raise InvalidNumberError(
            f"{shown(text)}: an E.164 country code never starts with 0", subject=text
        )
    if len(digits) > MAX_DIGITS:
        raise InvalidNumberError(
            f"{shown(text)} has {len(digits)} digits; E.164 allows at most {MAX_DIGITS}",
            subject=text
        )
    return "+" + digits


def _normalize_suffix(suffix: str) -> str:
    if not isinstance(suffix, str):
        raise InvalidNumberError(f"the ENUM suffix must be text, not {type(suffix).__name__}",
                                 subject=suffix)
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
    if not isinstance(domain, str):
        raise InvalidNumberError(f"an ENUM domain must be text, not {type(domain).__name__}",
                                 subject=domain)
    name = domain.strip()
    if not name.endswith("."):
        name += "."
    if not name.lower().endswith("." + suffix.lower()):
        raise InvalidNumberError(f"{shown(domain)} is not under the ENUM suffix {suffix}",
                                 subject=domain)
    labels = name[: -len(suffix) - 1].split(".")
    if not all(len(label) == 1 and "0" <= label <= "9" for label in labels):
        raise InvalidNumberError(
            f"{shown(domain)}: every label above {suffix} must be a single digit 0-9",
            subject=domain
        )
    return normalize("+" + "".join(reversed(labels)))
