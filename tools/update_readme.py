"""Regenerate README.md's model table and the results sections of docs/models/*.md from
the registry and docs/results/*.json (thin: see ferzoo.docs.update_docs).

    python tools/update_readme.py [--pages-only]
"""

import sys

from ferzoo.docs import update_docs

for path in update_docs(readme="--pages-only" not in sys.argv[1:]):
    print(f"updated {path}")
