"""The lab: the embedded DNS server, BIND, network namespaces, real peers (Kamailio, sip-dig,
getaddrinfo, sipsak, baresip, linphone) run against the lab zones, and live captures of the
lab's own traffic.
May import every subpackage below it (core, resolve, zones, capture, split); never teach or cli.
"""
