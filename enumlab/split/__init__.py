"""Load splits: simulations of NAPTR/SRV selection, the statistics that judge a split, fleets of
caching clients, models of real clients (Kamailio, glibc, dnspython, sofia-sip...), splits
observed in captures, and their figures.
May import core, resolve, zones and capture; never lab, teach or cli.
"""
