"""The pure core: the standards as code -- E.164 numbers, DNS records, the NAPTR substitution
expression engine, enumservice fields, SIP URIs, 3GPP FQDNs, the selection policies -- plus the
base every other subpackage stands on (the one exception tree, lazy attributes, data locations).

No I/O: no sockets, no pandas, no matplotlib. Imports no other enumlab subpackage.
"""
