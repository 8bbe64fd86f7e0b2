"""``python -m ferzoo.data.converters DATASET SRC OUT ...`` (same as ``ferzoo convert``)."""

import sys

from ferzoo.data.converters.cli import main

sys.exit(main())
