"""The resolution procedures over a small lookup interface (:mod:`.lookup`): ENUM DDDS
(RFC 6116 / 3402-3404), S-NAPTR (RFC 3958, 3GPP TS 29.303), SIP server location (RFC 3263);
the resolver that asks one explicit server (dnspython at the edge), DNS wire helpers, and
the resolv.conf doctor. May import :mod:`enumlab.core` only.
"""
