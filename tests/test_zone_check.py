"""The zone doctor (issue 16): one broken zone per rule, the lab zones (the seed's ported
exception and its 99 numbers), named-checkzone on the same files, and answer sizes against
BIND's own answers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from enumlab.cli import main
from enumlab.lab.bind import BindServer
from enumlab.zones.zone_check import RULES, check_zones

from .conftest import ZONES, require_tool

SOA = "@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"


def zone(tmp_path: Path, body: str, origin: str = "example.", head: str = SOA) -> Path:
    """A zone directory holding one zone: SOA and NS (unless ``head`` says otherwise)."""
    d = tmp_path / "zones"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{origin.rstrip('.')}.zone").write_text(f"$ORIGIN {origin}\n$TTL 300\n{head}{body}")
    return d


N = 'IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b.example!" .'

# rule -> (zone body, the owner the finding must name); each zone breaks that one rule
BROKEN: dict[str, tuple[str, str]] = {
    "load": ("x IN A 192.0.2.300\n", "example.zone"),
    "naptr-regexp-invalid": ('x IN NAPTR 10 100 "u" "E2U+sip" "!^(.*)$!sip:\\\\2@b!" .\n',
                             "x.example."),
    "naptr-regexp-and-replacement": ('x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b!" y.\n',
                                     "x.example."),
    "naptr-regexp-in-snaptr": ('x IN NAPTR 10 10 "a" "x-3gpp-pgw:x-s8-gtp" "!^.*$!pgw!" .\n',
                               "x.example."),
    "naptr-u-without-regexp": ('x IN NAPTR 10 100 "u" "E2U+sip" "" ns1\n', "x.example."),
    "naptr-flags-unknown": ('x IN NAPTR 10 100 "z" "E2U+sip" "!^.*$!sip:a@b!" .\n',
                            "x.example."),
    "naptr-service": ('x IN NAPTR 10 10 "a" "x-3gpp-pwg:x-s8-gtp" "" ns1\n', "x.example."),
    "naptr-loop": ('a IN NAPTR 10 100 "" "E2U+sip" "" b\nb IN NAPTR 10 100 "" "E2U+sip" "" a\n',
                   "a.example."),
    "naptr-too-deep": ("".join(f'n{i} IN NAPTR 10 100 "" "E2U+sip" "" n{i + 1}\n'
                               for i in range(7)) + f"n7 {N}\n", "n0.example."),
    "naptr-dangling": ('x IN NAPTR 10 10 "a" "x-3gpp-pgw:x-s8-gtp" "" nohost\n'
                       "nohost IN TXT \"exists, no address\"\n", "x.example."),
    "srv-target-cname": ("_sip._udp IN SRV 10 10 5060 alias\nalias IN CNAME ns1\n",
                         "_sip._udp.example."),
    "srv-target-no-address": ("_sip._udp IN SRV 10 10 5060 host\nhost IN TXT \"x\"\n",
                              "_sip._udp.example."),
    "srv-dot-mixed": ("_sip._udp IN SRV 10 10 5060 ns1\n_sip._udp IN SRV 20 0 0 .\n",
                      "_sip._udp.example."),
    "cname-target": ("@ IN MX 10 alias\nalias IN CNAME ns1\n", "example."),
    "ns-cname": ("sub IN NS alias\nalias IN CNAME ns1\n", "sub.example."),
    "delegation-no-glue": ("sub IN NS ns.sub\n", "sub.example."),
    "wildcard-blocked": (f"*.2.0 {N}\n5.4.3.2.0 {N}\n", "3.2.0.example."),
    "wildcard-any-length": (f"*.2.0 {N}\n", "*.2.0.example."),
    "size-tc-no-edns": ("".join(f'big IN NAPTR 10 {i} "u" "E2U+sip" "!^.*$!sip:user{i}@'
                                f'server-with-a-long-name-{i}.example!" .\n' for i in range(8)),
                        "big.example."),
    "size-tc-1232": ("".join(f'big IN NAPTR 10 {i} "u" "E2U+sip" "!^.*$!sip:user{i}@'
                             f'server-with-a-long-name-{i}.example!" .\n' for i in range(16)),
                     "big.example."),
    "size-fragments": ("".join(f'big IN NAPTR 10 {i} "u" "E2U+sip" "!^.*$!sip:user{i}@'
                               f'server-with-a-long-name-{i}.example!" .\n' for i in range(20)),
                       "big.example."),
    "split-disagree": ('x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:s@one.example!" .\n'
                       'x IN NAPTR 10 200 "u" "E2U+sip" "!^.*$!sip:s@two.example!" .\n',
                       "x.example."),
    "peer-kamailio": ('x IN NAPTR 10 100 "u" "E2U+sip" "/^.*$/sip:a@b/" .\n', "x.example."),
    "peer-sip-dig": ("_sip._udp IN SRV 10 0 5060 ns1\n_sip._udp IN SRV 10 0 5061 ns1\n",
                     "_sip._udp.example."),
    "peer-dnspython": ("_sip._udp IN SRV 10 0 5060 ns1\n_sip._udp IN SRV 10 60 5061 ns1\n",
                       "_sip._udp.example."),
    "peer-asterisk": ('x IN NAPTR 10 100 "" "E2U+sip" "" y\ny ' + N + "\n", "x.example."),
}
# rules with a zone of their own: an apex NS without an address
APEX_RULES = {"ns-no-address": ("@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\n",
                                "example.")}


def test_every_rule_has_a_broken_zone() -> None:
    assert set(BROKEN) | set(APEX_RULES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_finds_its_broken_zone(rule: str, tmp_path: Path) -> None:
    body, owner = BROKEN[rule]
    report = check_zones(zone(tmp_path, body))
    found = [f for f in report.findings if f.rule == rule]
    assert found, report.format()
    assert owner in {f.owner for f in found}, [f.owner for f in found]
    f = found[0]
    assert f.message and f.fix and f.reference and f.severity in ("error", "warning", "info")
    # the clean zone around it gives no finding of this rule
    assert not [g for g in check_zones(zone(tmp_path / "clean", f"x {N}\n")).findings
                if g.rule == rule]


def test_an_apex_ns_without_an_address(tmp_path: Path) -> None:
    head, owner = APEX_RULES["ns-no-address"]
    report = check_zones(zone(tmp_path, "", head=head))
    assert [(f.rule, f.owner) for f in report.findings] == [("ns-no-address", owner)]


def test_a_clean_zone_exits_0_and_a_broken_one_1(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    clean = zone(tmp_path / "a", f"x {N}\n_sip._udp IN SRV 10 10 5060 ns1\n")
    assert check_zones(clean).exit_code == 0
    assert main(["zone", "check", str(clean)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    broken = zone(tmp_path / "b", BROKEN["naptr-loop"][0])
    assert main(["zone", "check", str(broken), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["error"] == 2 and data["rules"] == {"naptr-loop": 2, "peer-kamailio": 2,
                                                              "peer-asterisk": 2}
    assert main(["zone", "check", str(tmp_path / "missing"), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "InputError" and "does not exist" in error["message"]


def test_html_report_names_every_rule_found(tmp_path: Path) -> None:
    report = check_zones(ZONES)
    page = report.write_html(tmp_path / "zones.html").read_text()
    assert page.startswith("<!doctype html>") and "</html>" in page
    for rule in report.by_rule():
        assert f": {rule} (" in page


def test_the_seed_exception_takes_99_numbers_out_of_the_wildcard() -> None:
    """The +61255502345 exception creates the empty non-terminals 4.3.2.0... and 3.2.0...; the
    zone alone says 99 numbers of +612555023xx lose the wildcard (RFC 4592 s2.2.2)."""
    report = check_zones(ZONES)
    blocked = [f for f in report.findings if f.rule == "wildcard-blocked"]
    assert [f.owner for f in blocked] == ["3.2.0.5.5.5.2.1.6.e164.arpa."]
    assert "+612555023...: 99 numbers of 11 digits" in blocked[0].message
    wild = {w["wildcard"]: w for w in report.wildcards}["*.2.0.5.5.5.2.1.6.e164.arpa."]
    assert wild["blocked"][0]["unanswered_numbers"] == {11: 99}
    # the blog's 25/25/50 record set: the policies disagree, and the RFC never picks server3
    split = [f for f in report.findings if f.rule == "split-disagree"
             and f.owner == "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."]
    assert "25/25/50 under the preference-as-weight reading" in split[0].message
    assert "never pick server3 while server1 and server2 are up" in split[0].message


def test_the_fixed_zone_no_longer_blocks(tmp_path: Path) -> None:
    fixed = tmp_path / "zones"
    shutil.copytree(ZONES, fixed)
    wild = ('IN NAPTR 100 100 "u" "E2U+sip" '
            '"!(^.*$)!sip:+1\\\\1@server2.enum.nickvsnetworking.com!" .')
    with open(fixed / "e164.arpa.zone", "a") as f:
        f.write(f"*.3.2.0.5.5.5.2.1.6 {wild}\n*.4.3.2.0.5.5.5.2.1.6 {wild}\n")
    assert not [f for f in check_zones(fixed).findings if f.rule == "wildcard-blocked"]


def test_lab_zone_findings_match_what_the_resolvers_do() -> None:
    """Findings about the lab zones that the procedures' own tests show live."""
    by_rule = check_zones(ZONES).by_rule()
    loops = {f.owner for f in by_rule["naptr-loop"]}
    assert "6.0.0.3.0.5.5.5.2.1.6.e164.arpa." in loops  # a self loop
    dangling = {f.owner for f in by_rule["naptr-dangling"]}
    assert "ims.apn.epc.mnc001.mcc001.3gppnetwork.org." in dangling  # pgw-noaddr
    no_address = {f.record for f in by_rule["srv-target-no-address"]}
    assert any("missing.broken" in r for r in no_address)
    sizes = {(s.name, s.rdtype): s.size for s in check_zones(ZONES).sizes}
    assert sizes[("9.9.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTR")] == 1153  # the seed TC example


# -- named-checkzone: every zone it refuses, enumlab refuses with the same line ------------

APEX = "$ORIGIN example.\n$TTL 300\n@ IN SOA ns1 h 1 3600 600 86400 300\n"
HEAD = "$ORIGIN example.\n$TTL 300\n" + SOA
DIFFERENTIAL = {
    "valid": HEAD + f"x {N}\n",
    "no-soa": "$ORIGIN example.\n$TTL 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n",
    "no-ns": APEX + "ns1 IN A 192.0.2.53\n",
    "cname-and-other": HEAD + "x IN CNAME ns1\nx IN A 192.0.2.1\n",
    "bad-ttl": HEAD + "x 3600x IN A 192.0.2.1\n",
    "bad-a": HEAD + "x IN A 192.0.2.300\n",
    "aaaa-bad": HEAD + "x IN AAAA 2001:db8::g\n",
    "naptr-5-fields": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b!"\n',
    "naptr-digit-delim": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "1^.*$1sip:a@b1" .\n',
    "naptr-i-delim": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "i^.*$isip:a@bi" .\n',
    "naptr-backslash-delim": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "\\\\^.*$\\\\sip:a@b\\\\" .\n',
    "naptr-backref-0": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^(.*)$!sip:\\\\0@b!" .\n',
    "naptr-backref-beyond": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:\\\\1@b!" .\n',
    "naptr-bad-ere": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!(.*!sip:a@b!" .\n',
    "naptr-two-delims": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b" .\n',
    "naptr-flags-x": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b!x" .\n',
    "naptr-flags-i": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b!i" .\n',
    "naptr-order-big": HEAD + 'x IN NAPTR 70000 100 "u" "E2U+sip" "!^.*$!sip:a@b!" .\n',
    "naptr-both": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:a@b!" y.example.\n',
    "naptr-perl": HEAD + 'x IN NAPTR 10 100 "u" "E2U+sip" "!^\\\\+\\\\d+$!sip:a@b!" .\n',
    "unbalanced-paren": HEAD + "x IN SOA ( ns1 hostmaster 1 3600 600 86400 300\n",
    "unterminated-quote": HEAD + 'x IN TXT "abc\n',
    "unknown-type": HEAD + "x IN FOOBAR 1\n",
    "class-ch": HEAD + 'x CH TXT "a"\n',
    "txt-too-long": HEAD + 'x IN TXT "' + "a" * 256 + '"\n',
    "long-label": HEAD + "a" * 64 + " IN A 192.0.2.1\n",
    "ttl-too-big": HEAD + "x 4294967296 IN A 192.0.2.1\n",
    "srv-3-fields": HEAD + "_sip._udp IN SRV 10 10 nothere\n",
    "two-soa": HEAD + "@ IN SOA ns2 hostmaster 2 3600 600 86400 300\n",
    "include-missing": HEAD + "$INCLUDE missing.zone\n",
    "garbage": "this is not a zone file\n",
    "empty": "\n",
    "out-of-zone": HEAD + "x.other. IN A 192.0.2.1\n",
    "ns-no-address": APEX + "@ IN NS ns1\n",
    "ns-cname": APEX + "@ IN NS alias\nalias IN CNAME ns1\nns1 IN A 192.0.2.53\n",
    "srv-cname": HEAD + "_sip._udp IN SRV 10 10 5060 alias\nalias IN CNAME ns1\n",
    "srv-no-address": HEAD + "_sip._udp IN SRV 10 10 5060 nothere\n",
    "mx-cname": HEAD + "@ IN MX 10 alias\nalias IN CNAME ns1\n",
    "delegation-no-glue": HEAD + "sub IN NS ns.sub\n",
    "cname-loop": HEAD + "a IN CNAME b\nb IN CNAME a\n",
    "wildcard-blocked": HEAD + f"*.b {N}\nc.d.b {N}\n",
}
# zones named-checkzone accepts and enumlab gives an error for, and why (the "explained extra")
STRICTER = {
    "naptr-both": "RFC 3403 s4.1: REGEXP and REPLACEMENT are mutually exclusive; BIND serves it",
    "naptr-perl": "\\d is not POSIX ERE (RFC 3402 s3.2); BIND does not parse the ERE",
    "out-of-zone": "BIND ignores out-of-zone data with a warning; enumlab refuses to serve it",
    "srv-cname": "RFC 2782: an SRV target must not be an alias; named-checkzone only warns",
    "srv-no-address": "RFC 3263 s4.2: a target without an address is unusable; named warns",
}


@pytest.mark.parametrize("case", sorted(DIFFERENTIAL))
def test_at_least_as_strict_as_named_checkzone(case: str, tmp_path: Path) -> None:
    checkzone = require_tool("named-checkzone", "bind9-utils")
    d = tmp_path / "z"
    d.mkdir()
    path = d / "example.zone"
    path.write_text(DIFFERENTIAL[case])
    bind = subprocess.run([checkzone, "example", str(path)], capture_output=True, text=True)
    bind_lines = {int(n) for n in re.findall(r"example\.zone:(\d+):", bind.stdout + bind.stderr)}
    errors = [f for f in check_zones(d).findings if f.severity == "error"]
    if bind.returncode != 0:
        assert errors, f"named-checkzone refused it, enumlab did not: {bind.stdout}"
        if bind_lines:
            assert bind_lines & {f.line for f in errors}, (bind.stdout, errors)
    elif errors:
        assert case in STRICTER, [(f.rule, f.message) for f in errors]


def test_the_differential_covers_refusals_and_acceptances() -> None:
    require_tool("named-checkzone", "bind9-utils")
    assert len(DIFFERENTIAL) >= 40 and set(STRICTER) <= set(DIFFERENTIAL)


# -- sizes: the embedded server's rendering against BIND's real answers --------------------

def test_answer_sizes_are_the_sizes_bind_sends(tmp_path: Path) -> None:
    require_tool("named", "bind9")
    require_tool("named-checkzone", "bind9-utils")
    with BindServer(ZONES) as bind:
        accepted = tmp_path / "accepted"
        accepted.mkdir()
        for _, path in bind.accepted:
            shutil.copy(path, accepted / path.name)
        report = check_zones(accepted, all_sizes=True)
        assert len(report.sizes) == report.answers > 80
        compared = 0
        for s in report.sizes:
            if s.name.startswith("*.") or s.rdtype not in ("NAPTR", "SRV", "A", "AAAA", "TXT"):
                continue  # wildcards: sized for a name of the same length; NS, SOA, MX:
                #           BIND adds glue and authority even with minimal-responses
            q = dns.message.make_query(s.name, s.rdtype, use_edns=False)
            q.flags = 0
            reply = dns.query.tcp(q, bind.host, port=bind.port, timeout=3)
            if reply.answer and reply.answer[0].rdtype != dns.rdatatype.from_text(s.rdtype):
                continue  # a CNAME chain: sized per RRset
            assert len(reply.to_wire()) == s.size, (s.name, s.rdtype)
            compared += 1
            if s.edns_size <= 4096:
                e = dns.message.make_query(s.name, s.rdtype, use_edns=0, payload=4096)
                e.flags = 0
                udp = dns.query.udp(e, bind.host, port=bind.port, timeout=3)
                assert len(udp.to_wire()) == s.edns_size, (s.name, s.rdtype)
        assert compared > 80



def test_zones_in_memory_are_checked_like_files() -> None:
    """The notebook's fix, made with Authority.with_rrset, checked without a file."""
    from enumlab.zones.authority import Authority

    lab = Authority.from_directory(ZONES)
    assert [f.owner for f in check_zones(lab).findings if f.rule == "wildcard-blocked"] == [
        "3.2.0.5.5.5.2.1.6.e164.arpa."]
    record = '100 100 "u" "E2U+sip" "!^.*$!sip:block@example.com!" .'
    fixed = lab.with_rrset("*.3.2.0.5.5.5.2.1.6.e164.arpa.", "NAPTR", [record]) \
        .with_rrset("*.4.3.2.0.5.5.5.2.1.6.e164.arpa.", "NAPTR", [record])
    report = check_zones(fixed)
    assert report.source == "zones in memory"
    assert not [f for f in report.findings if f.rule == "wildcard-blocked"]


def test_docs_list_every_rule() -> None:
    page = (ZONES.parent.parent / "docs" / "reference" / "zone-doctor.md").read_text()
    assert [rule for rule in RULES if f"| `{rule}` |" not in page] == []
