"""``python -m ferzoo ...`` is the ``ferzoo`` command."""

import sys

from ferzoo.cli import main

sys.exit(main())
