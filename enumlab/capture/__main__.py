"""``python -m enumlab.capture`` runs the pyshark child (see :mod:`.detail`)."""

import sys

from .detail import _child_main

sys.exit(_child_main(sys.argv[1:]))
