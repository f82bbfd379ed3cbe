"""SIP and SIPS URIs (RFC 3261 section 19.1), as far as server location needs them.

``sip:user@host:port;transport=tcp`` -> scheme, user, host, port, transport and the other
parameters. Hosts are domain names, IPv4 addresses or bracketed IPv6 references
(``sip:[2001:db8::1]:5060``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .errors import InputError

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
TRANSPORTS = ("udp", "tcp", "tls", "sctp", "tls-sctp")


class SipUriError(InputError):
    """A SIP or SIPS URI that cannot be parsed (RFC 3261 section 19.1)."""


@dataclass(frozen=True)
class SipUri:
    """A parsed SIP/SIPS URI."""

    scheme: str  # "sip" | "sips"
    host: str  # domain (lower case, no trailing dot) or IP address (IPv6 without brackets)
    user: str = ""
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The ``transport=`` parameter, lower case, or None."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def numeric_host(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def without_port(self) -> SipUri:
        """The same URI with no port: what RFC 3263 would then look up with NAPTR/SRV."""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return SipUri(self.scheme, self.host, self.user, None, dict(self.params),
                      f"{self.scheme}:{user}{host}{params}")

    def __str__(self) -> str:
        return self.text


def parse_sip_uri(text: str) -> SipUri:
    """Parse ``sip:`` / ``sips:`` URIs; :class:`SipUriError` names what is wrong."""
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1]
    scheme, colon, rest = raw.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips"):
        raise SipUriError(f"{text!r} is not a sip: or sips: URI", subject=text)
    rest = rest.split("?", 1)[0]  # headers play no part in server location
    user = ""
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not user:
            raise SipUriError(f"{text!r}: empty user part before '@'", subject=text)
    hostport, *param_parts = rest.split(";")
    params: dict[str, str] = {}
    for part in param_parts:
        if not part:
            continue
        key, _, value = part.partition("=")
        params[key.lower()] = value
    port_text = ""
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket:
            raise SipUriError(f"{text!r}: unterminated IPv6 reference", subject=text)
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise SipUriError(f"{text!r}: {host!r} is not an IPv6 address", subject=text) from exc
        if after:
            if not after.startswith(":"):
                raise SipUriError(f"{text!r}: junk after the IPv6 reference", subject=text)
            port_text = after[1:]
    else:
        if hostport.count(":") > 1:
            raise SipUriError(f"{text!r}: an IPv6 address must be in brackets", subject=text)
        host, _, port_text = hostport.partition(":")
        host = host.lower().rstrip(".")
        if not host:
            raise SipUriError(f"{text!r} has no host", subject=text)
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            labels = host.split(".")
            if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
                raise SipUriError(f"{text!r}: {host!r} is not a valid host name", subject=text
                                  ) from None
    port = None
    if port_text or hostport.endswith(":"):
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipUriError(f"{text!r}: port {port_text!r} is not 1..65535", subject=text)
        port = int(port_text)
    transport = params.get("transport", "").lower()
    if transport and transport not in TRANSPORTS:
        raise SipUriError(f"{text!r}: unknown transport {transport!r} "
                          f"(known: {', '.join(TRANSPORTS)})", subject=text)
    return SipUri(scheme, host, user, port, params, raw)
