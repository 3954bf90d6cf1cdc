"""``python -m imgstats``: the ``imgstats`` command (see :mod:`imgstats.cli`)."""

import sys

from .cli import main

sys.exit(main())
