"""What a learner reads after Run All (issue 26): each lesson notebook executed (nbclient, as
nbmake does) and its outputs checked -- no bare pandas Series with its ``Name: ..., dtype:``
footer, no p-value printed as 0, no record type as a number, one mark for missing values in a
table, every picture an ``<img>`` with alt text, every "your turn" check still waiting (the
answers live in the companion notebooks), and no error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import ROOT

# the seven lessons run once for the module (about 80 s on 2 idle cores), beside nbmake's run
pytestmark = pytest.mark.timeout(1800)

LESSONS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                 if not p.stem.endswith("_solutions"))


def _execute(path: Path) -> Any:
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


@pytest.fixture(scope="module")
def executed() -> dict[str, Any]:
    return {p.name: _execute(p) for p in LESSONS}  # one after the other, in this thread


def _outputs(nb: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", [])]


def _texts(output: dict[str, Any]) -> list[str]:
    data = output.get("data", {})
    return [str(output.get("text", "")), str(data.get("text/plain", "")),
            str(data.get("text/html", "")), str(data.get("text/markdown", ""))]


def test_seven_lessons() -> None:
    assert len(LESSONS) == 7


def test_no_error_and_no_bare_series(executed: dict[str, Any]) -> None:
    for name, nb in executed.items():
        for i, out in _outputs(nb):
            assert out["output_type"] != "error", (name, i, out.get("ename"), out.get("evalue"))
            plain = str(out.get("data", {}).get("text/plain", "")) + str(out.get("text", ""))
            assert not re.search(r"(^|\n)(Name: .*, )?dtype: \w+\s*$", plain), (name, i, plain)


P_ZERO = re.compile(r"\bp(-value)?\s*[=:]\s*0(\.0+)?(?![\d.e])|\b0\.000000\b")


def test_no_p_value_prints_as_zero(executed: dict[str, Any]) -> None:
    for name, nb in executed.items():
        for i, out in _outputs(nb):
            for text in _texts(out):
                if "image/png" in text:
                    continue
                assert not P_ZERO.search(text), (name, i, P_ZERO.search(text))


def test_tables_read_well(executed: dict[str, Any]) -> None:
    for name, nb in executed.items():
        for i, out in _outputs(nb):
            html = str(out.get("data", {}).get("text/html", ""))
            if "<table" not in html:
                continue
            marks = {m for m in ("NaN", "None", "&lt;NA&gt;") if f">{m}<" in html}
            assert len(marks) <= 1, (name, i, marks)  # never two kinds of "missing"
            header = re.search(r"<thead>(.*?)</thead>", html, re.S)
            if header and ">qtype<" in header.group(1):
                assert ">35<" not in html and ">NAPTR<" in html, (name, i)
    assert not any("qtype 35" in t for nb in executed.values() for _, o in _outputs(nb)
                   for t in _texts(o))


def test_every_picture_has_alt_text(executed: dict[str, Any]) -> None:
    pictures = 0
    for name, nb in executed.items():
        for i, out in _outputs(nb):
            data = out.get("data", {})
            html = str(data.get("text/html", ""))
            if "image/png" in data:
                pytest.fail(f"{name} cell {i}: a bare PNG output (no place for alt text)")
            for tag in re.findall(r"<img [^>]*>", html):
                alt = re.search(r'alt="([^"]*)"', tag)
                assert alt and len(alt.group(1)) > 40, (name, i, tag[:120])
                pictures += 1
    assert pictures >= 12


def test_lesson_outputs_leave_the_questions_open(executed: dict[str, Any]) -> None:
    for name, nb in executed.items():
        checks = [(i, c) for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and 'check("' in c.source]
        assert checks, name
        for i, cell in checks:
            shown = "".join(t for o in cell.outputs for t in _texts(o))
            assert "Your turn" in shown and "Right" not in shown, (name, i, shown[:200])


def test_the_notebooks_say_what_the_issue_asked(executed: dict[str, Any]) -> None:
    text = {name: json.dumps(nb) for name, nb in executed.items()}
    six, four, five, seven = (text[n] for n in ("06_pcap_truncation_mtu.ipynb",
                                                "04_sip_location_and_pitfalls.ipynb",
                                                "05_load_split_validation.ipynb",
                                                "07_real_clients_and_fleets.ipynb"))
    assert "2,850 + 8 + 20" in six and "2,850 + 8 = 2,878" not in six
    assert six.index("## Step 9") < six.index("## Recap")
    assert "dns_srv_sip_resolve(): unknown proto 0" in four
    assert "478/SL" in four and "Unresolvable destination" in four
    assert "33.30" in five and "16.7" in five
    assert "verdict" in seven and "approximate" in seven
