"""CI's share of the zone fuzz kit (tests/zone_fuzz.py): 300 seeded zone mutants, each loaded
by enumlab (as ``serve`` loads it) and by named-checkzone. Every verdict agrees or differs for
a reason in zone_fuzz.EXPLAINED; none is a traceback or takes over 10 s. ``make fuzz-zones``
runs 3,000 more and writes minimal reproducers."""

from __future__ import annotations

from . import zone_fuzz
from .conftest import require_tool

CI_MUTANTS = 300


def test_zone_mutants_against_named_checkzone() -> None:
    checkzone = require_tool("named-checkzone", "bind9-utils")
    verdicts = zone_fuzz.run(29, CI_MUTANTS, checkzone)
    assert len(verdicts) == CI_MUTANTS
    tracebacks = [v for v in verdicts if v.enumlab.startswith("traceback")]
    assert not tracebacks, [(v.enumlab, v.text) for v in tracebacks[:3]]
    unexplained = [v for v in verdicts if v.explanation is None]
    assert not unexplained, [(v.enumlab, v.named_output, v.text) for v in unexplained[:3]]
    assert max(v.seconds for v in verdicts) < 10
    # the mutants are not all trivially good or all trivially broken
    loaded = sum(v.enumlab == "loaded" for v in verdicts)
    assert 0.1 * CI_MUTANTS < loaded < 0.9 * CI_MUTANTS


def test_the_mutants_are_the_same_for_a_seed() -> None:
    assert list(zone_fuzz.mutants(7, 20)) == list(zone_fuzz.mutants(7, 20))
    assert list(zone_fuzz.mutants(7, 20)) != list(zone_fuzz.mutants(8, 20))
