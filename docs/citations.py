"""The standards page: every RFC / 3GPP TS section that enumlab's docstrings cite, with links.

Read from the source (ast, nothing imported): each module's, class's and function's docstring
is searched for ``RFC 3403 s4.1``, ``RFC 4592 section 2.2.2``, ``RFC 6116 §2.4``,
``TS 29.303 annex C.1`` and the like; a citation without a section links the whole document.
Run by docs/conf.py at every build: ``python docs/citations.py OUT.md`` does the same by hand.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = r"(?:\s*(?:s|section|sec\.|§)\s*(\d+(?:\.\d+)*))?"
RFC = re.compile(r"\bRFC\s?(\d{3,4})" + SECTION)
TS = re.compile(r"\bTS\s?(\d{2}\.\d{3})"
                r"(?:\s*[Aa]nnex\s*([A-Z](?:\.\d+)*)|\s*(?:s|section|sec\.|§)\s*(\d+(?:\.\d+)*))?")


def _docstrings(path: Path, module: str) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child)
                if doc:
                    found.append((name, doc))
                visit(child, name)

    doc = ast.get_docstring(tree)
    if doc:
        found.append((module, doc))
    visit(tree, module)
    return found


def collect() -> dict[tuple[str, str, str], set[str]]:
    """(kind, number, section) -> the places (module.qualname) that cite it."""
    cites: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for path in sorted((ROOT / "enumlab").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for place, doc in _docstrings(path, module):
            text = " ".join(doc.split())
            for m in RFC.finditer(text):
                cites[("RFC", m.group(1), m.group(2) or "")].add(place)
            for m in TS.finditer(text):
                cites[("TS", m.group(1), m.group(2) or m.group(3) or "")].add(place)
    return cites


def _link(kind: str, number: str, section: str) -> str:
    if kind == "RFC":
        url = f"https://www.rfc-editor.org/rfc/rfc{number}"
        if section:
            url += f"#section-{section}"
        return f"[RFC {number}{' section ' + section if section else ''}]({url})"
    spec = number.replace(".", "")
    where = (" annex " if section[:1].isalpha() else " section ") + section if section else ""
    return f"[TS {number}{where}](https://www.3gpp.org/DynaReport/{spec}.htm)"


def write_standards_page(out: Path) -> None:
    cites = collect()
    lines = ["# Standards cited", "",
             "Every rule enumlab applies cites the standard it comes from, in the docstring "
             "beside the code. This page is collected from those docstrings at each build "
             f"({len(cites)} citations of {len({(k, n) for k, n, _ in cites})} documents). "
             "3GPP specifications link to the specification's page (3GPP publishes no "
             "section anchors).", ""]
    by_doc: dict[tuple[str, str], list[tuple[str, set[str]]]] = defaultdict(list)
    for (kind, number, section), places in cites.items():
        by_doc[(kind, number)].append((section, places))

    def order(key: tuple[str, str]) -> tuple[str, float]:
        return (key[0], float(key[1]))

    for kind, number in sorted(by_doc, key=order):
        lines += [f"## {kind} {number}", "", "| section | cited in |", "|---|---|"]
        for section, places in sorted(by_doc[(kind, number)],
                                      key=lambda s: [(0, int(p), "") if p.isdigit() else (1, 0, p)
                                                     for p in s[0].split(".") if p]):
            shown = ", ".join(f"`{p}`" for p in sorted(places)[:8])
            more = len(places) - 8
            lines.append(f"| {_link(kind, number, section)} | {shown}"
                         f"{f' and {more} more' if more > 0 else ''} |")
        lines.append("")
    text = "\n".join(lines)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_standards_page(Path(sys.argv[1]))
