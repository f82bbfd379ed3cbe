"""The notebooks' "your turn" checks (issue 13): each says right to the answer the standards
give, wrong (with a hint, not the answer) to a wrong one, and "your turn" to ``...``."""

from __future__ import annotations

import json
import re

import dns.e164
import pytest

from enumlab import EmbeddedServer, InputError, Resolver
from enumlab.teach.exercises import EXERCISES, check
from enumlab.teach.widgets import explain_number, slider_labels, split_with

from .conftest import ROOT


@pytest.fixture(scope="module")
def live() -> Resolver:
    with EmbeddedServer() as server:
        yield Resolver(server.host, server.port)


# answers worked out independently of the solver (another library, the seed, the spec text)
INDEPENDENT = {
    # dnspython's own E.164 mapping
    "01-domain": dns.e164.from_e164("+61255502345").to_text(),
    # the seed's ported exception: its nine siblings under the empty non-terminal 4.3.2.0...
    # lose the wildcard (RFC 4592); +61255502345 itself has records
    "02-blocked": 9,
    "02-regexp": r"!^\+61(.*)$!sip:0\1@carrier.example!",
    # TS 23.003 s19.4.2.2 written out by hand for MCC 302 / MNC 720
    "03-apn-fqdn": "internet.apn.epc.mnc720.mcc302.3gppnetwork.org",
    # the seed's S8 walk-through ends at topon.lb1.pgw01
    "03-pgw": "topon.lb1.pgw01.epc.mnc001.mcc001.3gppnetwork.org",
    "04-sips-port": 5061,  # RFC 3263 s4.2: TLS's default port
    "06-edns": 1280 - 40 - 8,  # RFC 8200 minimum MTU, IPv6 and UDP headers
}


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_every_exercise_says_right_wrong_and_your_turn(key: str, live: Resolver) -> None:
    ex = EXERCISES[key]
    ctx = {"lookup": live}
    waiting = check(key, ..., **ctx)
    assert waiting.status == "unanswered" and "Hint:" in str(waiting)
    answer = INDEPENDENT.get(key, ex.solve(ctx))
    verdict = check(key, answer, **ctx)
    assert verdict.right, verdict
    assert verdict._repr_markdown_().startswith("✅")
    wrong = {str: "sip:nobody@nowhere.example", int: 1, bool: not answer}.get(
        type(answer), [0.9, 0.05, 0.05])
    if key == "02-regexp":
        wrong = r"!^\+(.*)$!sip:\1@carrier.example!"  # keeps the 61: the seed's own slip
    miss = check(key, wrong, **ctx)
    assert miss.status == "wrong" and "Hint:" in str(miss)
    assert repr(answer) not in str(miss).replace(ex.question, "")  # a hint, not the answer


def test_solver_and_independent_answers_agree(live: Resolver) -> None:
    for key, answer in INDEPENDENT.items():
        if key != "02-regexp":
            assert EXERCISES[key].same(answer, EXERCISES[key].solve({"lookup": live})), key


def test_a_broken_regexp_is_wrong_not_a_crash() -> None:
    verdict = check("02-regexp", "!(unclosed!x!")
    assert verdict.status == "wrong" and "RegexpError" in str(verdict)


def test_check_names_what_it_needs() -> None:
    with pytest.raises(InputError, match="lookup="):
        check("01-uri", "sip:x@y")
    with pytest.raises(InputError, match="no exercise 'nope'"):
        check("nope", 1)


def _cells(path):  # type: ignore[no-untyped-def]
    return [("".join(c["source"]), c["cell_type"]) for c in json.loads(path.read_text())["cells"]]


def _questions(cells) -> list[str]:  # type: ignore[no-untyped-def]
    """The numbers of a notebook's questions: markdown lines starting ``N.`` after "## Your
    turn" (the lesson) or each solution's heading (the companion)."""
    found, on = [], False
    for text, kind in cells:
        if kind != "markdown":
            continue
        if "## Questionnaire" in text:
            break
        on = on or "## Your turn" in text or "Worked solutions" in text
        if on:
            found += re.findall(r"^(\d+)\\?\. ", text, re.M)
    return found


def test_every_question_has_a_worked_solution_in_the_companion_notebook() -> None:
    """Lessons ask, companions (``NN_..._solutions.ipynb``, executed in CI like the lessons)
    answer: every question -- checked or not -- has a worked solution there, every check is
    called there with a real answer, and no lesson cell calls a check with one."""
    seen = set()
    lessons = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                     if not p.stem.endswith("_solutions"))
    assert len(lessons) == 7
    for lesson in lessons:
        companion = lesson.with_name(lesson.stem + "_solutions.ipynb")
        assert companion.exists(), companion.name
        taught, worked = _cells(lesson), _cells(companion)
        code = [t for t, k in taught if k == "code"]
        turns = {key for key in EXERCISES for t in code if f'check("{key}", ...' in t}
        assert not any(f'check("{key}",' in t and "..." not in t.split(f'check("{key}",')[1][:6]
                       for key in EXERCISES for t in code), lesson.name  # no answer here
        solved = {key for key in EXERCISES for t, k in worked if k == "code"
                  and f'check("{key}",' in t and "..." not in t}
        assert turns == solved, lesson.name
        asked = _questions(taught)
        assert asked and asked == _questions(worked), (lesson.name, asked)
        assert "Solutions" not in "".join(t for t, _ in taught if t.startswith("## Solutions"))
        seen |= turns
    assert seen == set(EXERCISES)  # every exercise is used in some notebook


def test_a_number_typed_as_text_is_the_number(live: Resolver) -> None:
    # check("04-sips-port", "5061") said "Not quite" to the right port typed as text
    assert check("04-sips-port", "5061", lookup=live).right
    assert check("04-sips-port", " 5061 ", lookup=live).right
    assert not check("04-sips-port", "5060", lookup=live).right
    assert not check("04-sips-port", "port 5061", lookup=live).right
    assert check("01-tcp", str(EXERCISES["01-tcp"].solve({"lookup": live})), lookup=live).right


def test_number_box_text_and_the_sliders_split(live: Resolver) -> None:
    import numpy as np

    text = explain_number("+61355500914", live)
    assert "URIs, in order:" in text and "1. sip:service@server1" in text
    assert explain_number("+61 3 O", live).startswith("InvalidNumberError:")
    with EmbeddedServer() as server:
        assert slider_labels(server, "+61355500913") == [
            ("server1", 100), ("server2", 100), ("server3", 200)]
        table = split_with(server, "+61355500913", [10, 100, 100],
                           rng=np.random.default_rng(1), n=40_000)
        # served again and fetched back: server1 now has the lowest preference
        assert slider_labels(server, "+61355500913")[0] == ("server1", 10)
        assert table.loc["server1", ("rfc3403", "expected")] == 1.0
        assert table.loc["server1", ("weighted", "expected")] == pytest.approx(10 / 210)
        assert abs(table.loc["server2", ("weighted", "seen")] - 100 / 210) < 0.01
        with pytest.raises(InputError, match="3 NAPTR records, 2 values"):
            split_with(server, "+61355500913", [1, 2])
        srv = split_with(server, "_sip._udp.scscf.mnc001.mcc001.3gppnetwork.org", [1, 3],
                         rng=np.random.default_rng(1))
        assert list(srv.columns.get_level_values(0).unique()) == ["srv"]
        assert srv.loc["scscf2", ("srv", "expected")] > 2 * srv.loc["scscf1", ("srv", "expected")]
