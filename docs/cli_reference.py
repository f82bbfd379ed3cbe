"""The CLI reference page, written from enumlab's own argument parser at each docs build:
one section per command (and sub-command) holding exactly what ``enumlab COMMAND --help``
prints, so the page cannot drift from the program."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _commands(parser: argparse.ArgumentParser,
              prog: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prog, parser)]
    for action in parser._actions:  # argparse lists its sub-parsers nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub not in [p for _, p in found]:
                    found += _commands(sub, f"{prog} {name}")
    return found


def write_cli_page(out: Path) -> None:
    from enumlab.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width: a fixed one
    lines = ["# Command-line reference", "",
             "Generated from enumlab's argument parser (`enumlab.cli.build_parser`) at each "
             "build: each section is what `enumlab COMMAND --help` prints.", ""]
    for prog, parser in _commands(build_parser(), "enumlab"):
        parser.prog = prog
        lines += [f"## `{prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    text = "\n".join(lines)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
