"""3GPP FQDNs for EPC node selection (3GPP TS 23.003 sections 9, 19.4.2): pure builders and
their round-trip parsers.

* home network domain  ``epc.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` (MNC and MCC padded to 3
  digits, s19.4.2.2);
* APN-FQDN  ``<APN-NI>.apn.epc.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` (s19.4.2.2), from an APN-NI
  and a PLMN, or from a full APN whose Operator Identifier is ``mnc<MNC>.mcc<MCC>.gprs`` (s9.1);
* TAI-FQDN  ``tac-lb<LB>.tac-hb<HB>.tac.epc.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` (s19.4.2.3);
* MME pool and node names ``mmegi<MMEGI>.mme.epc...`` / ``mmec<MMEC>.mmegi<MMEGI>.mme.epc...``
  (s19.4.2.4).

Invalid input raises :class:`EpcFqdnError` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError

SUFFIX = "3gppnetwork.org"
MAX_APN_NI = 63  # TS 23.003 s9.1.1
MAX_APN = 100  # TS 23.003 s9.1
RESERVED_NI_PREFIXES = ("rac", "lac", "sgsn", "rnc")  # TS 23.003 s9.1.1
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class EpcFqdnError(InputError):
    """An identifier that breaks TS 23.003; ``field`` names which one."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"{field} {value!r}: {reason}", subject=value)
        self.field = field


@dataclass(frozen=True)
class Plmn:
    """A PLMN identity: MCC (3 digits) and MNC (2 or 3 digits, kept as given)."""

    mcc: str
    mnc: str

    def __post_init__(self) -> None:
        if not (len(self.mcc) == 3 and self.mcc.isascii() and self.mcc.isdigit()):
            raise EpcFqdnError("MCC", self.mcc, "must be 3 digits")
        if not (len(self.mnc) in (2, 3) and self.mnc.isascii() and self.mnc.isdigit()):
            raise EpcFqdnError("MNC", self.mnc, "must be 2 or 3 digits")

    @property
    def mnc3(self) -> str:
        return self.mnc.zfill(3)

    @property
    def epc_domain(self) -> str:
        """``epc.mnc001.mcc001.3gppnetwork.org`` (TS 23.003 s19.4.2.2)."""
        return f"epc.mnc{self.mnc3}.mcc{self.mcc}.{SUFFIX}"

    @property
    def ims_domain(self) -> str:
        """``ims.mnc001.mcc001.3gppnetwork.org`` (TS 23.003 s13.2)."""
        return f"ims.mnc{self.mnc3}.mcc{self.mcc}.{SUFFIX}"

    def __str__(self) -> str:
        return f"{self.mcc}-{self.mnc}"


def plmn_from_imsi(imsi: str, mnc_digits: int) -> Plmn:
    """The home PLMN of an IMSI (TS 23.003 s2.2): MCC + an MNC of ``mnc_digits`` digits.

    The MNC length cannot be read from the IMSI itself; the caller must know it (from the
    SIM, or the operator's numbering plan). enumlab never guesses.
    """
    text = imsi.strip()
    if not (text.isascii() and text.isdigit()) or not 6 <= len(text) <= 15:
        raise EpcFqdnError("IMSI", imsi, "must be 6 to 15 digits")
    if mnc_digits not in (2, 3):
        raise EpcFqdnError("MNC length", mnc_digits, "must be 2 or 3")
    return Plmn(text[:3], text[3 : 3 + mnc_digits])


def validate_apn_ni(apn_ni: str) -> str:
    """Lower-case and check an APN Network Identifier (TS 23.003 s9.1.1)."""
    ni = apn_ni.strip().lower().rstrip(".")
    if not ni:
        raise EpcFqdnError("APN-NI", apn_ni, "is empty")
    if len(ni) > MAX_APN_NI:
        raise EpcFqdnError("APN-NI", apn_ni, f"is longer than {MAX_APN_NI} octets")
    labels = ni.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise EpcFqdnError("APN-NI", apn_ni, f"label {label!r} is not letters, digits and "
                               "inner hyphens (TS 23.003 s9.1)")
    if ni.startswith(RESERVED_NI_PREFIXES):
        raise EpcFqdnError("APN-NI", apn_ni, "must not start with rac, lac, sgsn or rnc "
                           "(TS 23.003 s9.1.1)")
    if ni.endswith(".gprs") or ni == "gprs":
        raise EpcFqdnError("APN-NI", apn_ni, "must not end in .gprs (TS 23.003 s9.1.1)")
    return ni


def apn_fqdn(apn_ni: str, plmn: Plmn) -> str:
    """``<APN-NI>.apn.epc.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` (TS 23.003 s19.4.2.2)."""
    ni = validate_apn_ni(apn_ni)
    fqdn = f"{ni}.apn.{plmn.epc_domain}"
    if len(ni) + len(f".mnc{plmn.mnc3}.mcc{plmn.mcc}.gprs") > MAX_APN:
        raise EpcFqdnError("APN", apn_ni, f"APN-NI + APN-OI exceed {MAX_APN} octets")
    return fqdn


_APN_OI = re.compile(r"^(?P<ni>.+)\.mnc(?P<mnc>\d{3})\.mcc(?P<mcc>\d{3})\.gprs\.?$", re.I)


def apn_fqdn_from_apn(apn: str) -> str:
    """From a full APN ``internet.mnc001.mcc001.gprs`` (APN-NI + APN-OI, TS 23.003 s9.1.2)."""
    m = _APN_OI.match(apn.strip())
    if not m:
        raise EpcFqdnError("APN", apn, "has no Operator Identifier mnc<MNC>.mcc<MCC>.gprs")
    if len(apn.strip().rstrip(".")) > MAX_APN:
        raise EpcFqdnError("APN", apn, f"is longer than {MAX_APN} octets")
    return apn_fqdn(m["ni"], Plmn(m["mcc"], m["mnc"]))


_APN_FQDN = re.compile(
    r"^(?P<ni>.+)\.apn\.epc\.mnc(?P<mnc>\d{3})\.mcc(?P<mcc>\d{3})\.3gppnetwork\.org\.?$", re.I)


def parse_apn_fqdn(fqdn: str) -> tuple[str, Plmn]:
    """The inverse of :func:`apn_fqdn`: (APN-NI, PLMN with a 3-digit MNC)."""
    m = _APN_FQDN.match(fqdn.strip())
    if not m:
        raise EpcFqdnError("APN-FQDN", fqdn, "is not <APN-NI>.apn.epc.mnc<MNC>.mcc<MCC>."
                           "3gppnetwork.org")
    return validate_apn_ni(m["ni"]), Plmn(m["mcc"], m["mnc"])


def tai_fqdn(tac: int, plmn: Plmn) -> str:
    """``tac-lb<LB>.tac-hb<HB>.tac.epc...``: TAC low and high bytes in hex (TS 23.003 s19.4.2.3)."""
    if isinstance(tac, bool) or not isinstance(tac, int) or not 0 <= tac <= 0xFFFF:
        raise EpcFqdnError("TAC", tac, "must be a 16-bit integer (0x0000-0xFFFF)")
    return f"tac-lb{tac & 0xFF:02x}.tac-hb{tac >> 8:02x}.tac.{plmn.epc_domain}"


_TAI = re.compile(r"^tac-lb(?P<lb>[0-9a-f]{2})\.tac-hb(?P<hb>[0-9a-f]{2})\.tac\.epc\."
                  r"mnc(?P<mnc>\d{3})\.mcc(?P<mcc>\d{3})\.3gppnetwork\.org\.?$", re.I)


def parse_tai_fqdn(fqdn: str) -> tuple[int, Plmn]:
    m = _TAI.match(fqdn.strip())
    if not m:
        raise EpcFqdnError("TAI-FQDN", fqdn, "is not tac-lb<LB>.tac-hb<HB>.tac.epc...")
    return int(m["hb"] + m["lb"], 16), Plmn(m["mcc"], m["mnc"])


def mme_pool_fqdn(mmegi: int, plmn: Plmn) -> str:
    """``mmegi<MMEGI>.mme.epc...`` (TS 23.003 s19.4.2.4), MMEGI as 4 hex digits."""
    if not isinstance(mmegi, int) or not 0 <= mmegi <= 0xFFFF:
        raise EpcFqdnError("MMEGI", mmegi, "must be a 16-bit integer")
    return f"mmegi{mmegi:04x}.mme.{plmn.epc_domain}"


def mme_node_fqdn(mmec: int, mmegi: int, plmn: Plmn) -> str:
    """``mmec<MMEC>.mmegi<MMEGI>.mme.epc...`` (TS 23.003 s19.4.2.4), MMEC as 2 hex digits."""
    if not isinstance(mmec, int) or not 0 <= mmec <= 0xFF:
        raise EpcFqdnError("MMEC", mmec, "must be an 8-bit integer")
    return f"mmec{mmec:02x}.{mme_pool_fqdn(mmegi, plmn)}"


_MME = re.compile(r"^(?:mmec(?P<mmec>[0-9a-f]{2})\.)?mmegi(?P<mmegi>[0-9a-f]{4})\.mme\.epc\."
                  r"mnc(?P<mnc>\d{3})\.mcc(?P<mcc>\d{3})\.3gppnetwork\.org\.?$", re.I)


def parse_mme_fqdn(fqdn: str) -> tuple[int | None, int, Plmn]:
    """(MMEC or None for a pool name, MMEGI, PLMN)."""
    m = _MME.match(fqdn.strip())
    if not m:
        raise EpcFqdnError("MME FQDN", fqdn, "is not [mmec<MMEC>.]mmegi<MMEGI>.mme.epc...")
    return (int(m["mmec"], 16) if m["mmec"] else None, int(m["mmegi"], 16),
            Plmn(m["mcc"], m["mnc"]))


def gateway_apn_fqdn(apn_ni: str, home: Plmn, visited: Plmn | None = None, *,
                     local_breakout: bool = False) -> str:
    """The APN-FQDN a visited MME asks for: in the *home* PLMN's domain for home-routed
    traffic (S8), in the *visited* PLMN's for local breakout (TS 23.401 s4.3.8.1)."""
    if local_breakout:
        if visited is None:
            raise EpcFqdnError("visited PLMN", None, "is needed for local breakout")
        return apn_fqdn(apn_ni, visited)
    return apn_fqdn(apn_ni, home)
