"""``python -m minimix_core``: the command line of :mod:`minimix_core._cli`."""

import sys

from ._cli import main

sys.exit(main())
