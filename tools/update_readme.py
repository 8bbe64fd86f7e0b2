"""Regenerate README.md's model table and the results sections of docs/models/*.md from
the registry and ferzoo/catalog/results/*.json (thin: see tools/docgen.py).

    python tools/update_readme.py [--pages-only]
"""

import sys

from docgen import update_docs

for path in update_docs(readme="--pages-only" not in sys.argv[1:]):
    print(f"updated {path}")
