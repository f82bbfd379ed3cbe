"""``python -m enumlab.cli``: the ``enumlab`` command."""

from . import run

run()
