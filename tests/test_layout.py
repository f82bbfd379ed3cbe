"""The package's layout is its architecture: one subpackage per concern, imports running one way.

Layers, bottom to top (a module may import its own subpackage and those below it)::

    core < resolve < zones < capture < split < lab < teach, cli

``core`` imports no other subpackage; nothing imports ``teach`` or ``cli`` (both are fronts).
The rule is read from the code itself: the ``ast`` of every module, every ``import`` and
``from ... import`` at any depth (inside functions too, and under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "enumlab"
LAYERS = ("core", "resolve", "zones", "capture", "split", "lab")
FRONTS = ("teach", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)} | {name: len(LAYERS) for name in FRONTS}


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every enumlab module or name ``path`` imports."""
    name, is_package = _module_name(path, root)
    package = name if is_package else name.rpartition(".")[0]
    top = root.name
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name == top or a.name.startswith(top + ".")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not (target == top or target.startswith(top + ".")):
                continue
            if target == top or target.count(".") == 0:
                # `from enumlab import x` / `from . import x` at the top: x may be a subpackage
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def subpackage(dotted: str) -> str | None:
    """``enumlab.capture.table`` -> ``capture``; the top-level package itself -> None."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def violations(root: Path) -> list[str]:
    """Every import against the layer order, as 'module:line imports target (why)'."""
    out = []
    for path in sorted(root.rglob("*.py")):
        name, _ = _module_name(path, root)
        home = subpackage(name)
        for line, target in imported_modules(path, root):
            there = subpackage(target)
            if there is None or there == home:
                continue
            where = f"{path.relative_to(root.parent)}:{line} imports {target}"
            if there in FRONTS:
                out.append(f"{where} (nothing imports the fronts teach/cli)")
            elif home is None:
                continue  # enumlab/__init__: the public API, from any layer below the fronts
            elif home == "core":
                out.append(f"{where} (core imports no other subpackage)")
            elif RANK[there] > RANK[home]:
                out.append(f"{where} ({home} is below {there})")
    return out


def test_imports_run_one_way() -> None:
    assert violations(PACKAGE) == []


def test_every_module_lives_in_a_subpackage_of_a_known_concern() -> None:
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py"]
    folders = sorted(p.name for p in PACKAGE.iterdir()
                     if p.is_dir() and (p / "__init__.py").exists())
    assert folders == sorted(RANK)


@pytest.mark.parametrize("name", sorted(RANK))
def test_each_subpackage_says_what_lives_there_and_what_it_may_import(name: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
    assert doc, f"enumlab/{name}/__init__.py has no docstring"
    assert "import" in doc.lower(), f"enumlab/{name}'s docstring does not say what it may import"


def test_each_command_module_stays_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / "cli").glob("*.py")}
    assert len(sizes) >= 12  # __init__, common and one module per command
    assert {name: n for name, n in sizes.items() if n > 260} == {}


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "enumlab"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return root


@pytest.mark.parametrize(("files", "expected"), [
    # core reaching up into resolve, relative import inside a function
    ({"core/e164.py": "def f():\n    from ..resolve import lookup\n",
      "resolve/lookup.py": ""}, "core imports no other subpackage"),
    # capture reaching up into split, absolute import
    ({"capture/table.py": "import enumlab.split.stats\n", "split/stats.py": ""},
     "capture is below split"),
    # a layer importing a front, under TYPE_CHECKING
    ({"lab/server.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from enumlab.teach import plot\n",
      "teach/plot.py": ""}, "nothing imports the fronts"),
    # the top-level package importing a front
    ({"__init__.py": "from . import cli\n", "cli/x.py": ""}, "nothing imports the fronts"),
])
def test_a_planted_wrong_import_is_caught(tmp_path: Path, files: dict[str, str],
                                          expected: str) -> None:
    found = violations(_plant(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


def test_imports_the_right_way_are_allowed(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "split/fleet.py": "from ..capture import jit\nfrom ..core.errors import E\n",
        "capture/jit.py": "", "core/errors.py": "",
        "cli/pcap.py": "from ..lab import server\nfrom .common import x\n",
        "lab/server.py": "from ..split import fleet\n", "cli/common.py": "",
    })
    assert violations(root) == []
