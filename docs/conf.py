"""Sphinx configuration of enumlab's documentation site (``make docs``; warnings are errors).

Why Sphinx + myst-nb (and not MkDocs): enumlab's docstrings are written in reStructuredText
roles (``:func:``, ``:meth:``, ``:class:``), which autodoc renders and cross-links as they are;
myst-nb renders the notebooks with outputs and caches their execution (jupyter-cache), so a
second build executes nothing. The CLI reference is each command's own ``--help``, written
from the real parser by ``docs/cli_reference.py`` (sphinx-argparse re-reads the help texts as
reStructuredText, which the CLI's example epilogs are not).

Generated at build time (``docs/_generated/``, not committed): the notebooks copied from
``notebooks/`` with the ``data/`` they read beside them, the standards page (citations collected
from the docstrings by ``docs/citations.py``), and the widget JavaScript (``make docs-assets``
fetches @jupyter-widgets/html-manager with npm, once; the site then loads it from its own
``_static``: widget outputs render with no network).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

from citations import write_standards_page  # noqa: E402
from cli_reference import write_cli_page  # noqa: E402

import enumlab  # noqa: E402

project = "enumlab"
author = "the enumlab developers"
copyright = "the enumlab developers"
release = version = enumlab.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated/data/**", "reference/notebooks-table.md",  # included
                    "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # moved README sections keep their heading levels

html_theme = "alabaster"
html_title = f"enumlab {release}"
html_static_path = ["_static"]
html_theme_options = {"description": "ENUM, NAPTR, S-NAPTR, SRV: learn, validate, debug",
                      "fixed_sidebar": True}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

# -- notebooks: executed once, then served from the cache ------------------------------------
nb_execution_mode = os.environ.get("ENUMLAB_DOCS_EXECUTE", "cache")
nb_execution_cache_path = os.environ.get("ENUMLAB_DOCS_CACHE",
                                         str(ROOT / "build" / "jupyter_cache"))
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

GENERATED = DOCS / "_generated"
WIDGETS_DIST = ROOT / "build" / "docs-assets" / "package" / "dist"


def _generate() -> None:
    notebooks = GENERATED / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = notebooks / nb.name
        if not target.exists() or target.read_bytes() != nb.read_bytes():
            shutil.copyfile(nb, target)  # unchanged files keep their time: the cache holds
    data = GENERATED / "data"  # the notebooks read ../data, as in the repository
    if not data.exists():
        data.symlink_to(ROOT / "data", target_is_directory=True)
    write_standards_page(GENERATED / "standards.md")
    write_cli_page(GENERATED / "cli.md")
    static = DOCS / "_static" / "widgets"
    embed = WIDGETS_DIST / "embed.js"
    if not embed.exists():
        raise RuntimeError(f"{embed} is missing: run `make docs-assets` (npm pack of "
                           "@jupyter-widgets/html-manager) before building the docs")
    if not (static / "embed.js").exists():
        shutil.copytree(WIDGETS_DIST, static, dirs_exist_ok=True)


_generate()
# Widget outputs load the html-manager bundle from the site itself, never from a CDN.
nb_ipywidgets_js = {"widgets/embed.js": {}}  # relative to _static


def _learner_notes(app: object, docname: str, source: list[str]) -> None:
    """docs/learner.md (the notebooks' companion for learners) joins the guides when present."""
    if docname == "index":
        entry = "learner" if (DOCS / "learner.md").exists() else ""
        source[0] = source[0].replace("<learner-notes>", entry)


def setup(app: object) -> None:
    app.connect("source-read", _learner_notes)  # type: ignore[attr-defined]
