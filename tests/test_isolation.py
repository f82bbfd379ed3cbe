"""The suite runs where no test can reach anything off this machine (issue 12).

`make test` runs pytest through .ci/isolated.sh in a fresh network namespace that has only
loopback: a test that tried a real resolver (a host name through getaddrinfo, `doctor` on the
real resolv.conf) would fail with "network unreachable" instead of sending a packet out.
"""

from __future__ import annotations

import os

import pytest

from enumlab import InputError, Resolver

from .conftest import IN_CI, ipv4_routes, network_interfaces

ISOLATED = os.environ.get("ENUMLAB_ISOLATED") == "1"


def test_the_suite_runs_in_a_namespace_with_loopback_only() -> None:
    if not ISOLATED:
        message = "tests not run through .ci/isolated.sh (make test does it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    assert network_interfaces() == ["lo"]
    assert ipv4_routes() == []  # no route, so no default route: nothing leaves


def test_a_host_name_never_reaches_the_socket_layer() -> None:
    with pytest.raises(InputError, match="not an IP address"):
        Resolver("dns.google", 53)
