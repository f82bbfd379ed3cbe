"""Zones: the master-file reader (RFC 1035 s5), the authority that answers from it (RFC 1034
s4.3.2, wildcards RFC 4592), and the zone doctor (``enumlab zone check``).
May import :mod:`enumlab.core` and :mod:`enumlab.resolve`.
"""
