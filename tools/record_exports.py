"""Export every registered model (or those named) in its tiny preset, check each file
against Keras, and record what passed in ferzoo/catalog/results/export.json (see tools/docgen.py).

    python tools/record_exports.py [MODEL ...]
"""

import sys

import ferzoo
from docgen import EXPORT_RESULTS, record_exports

names = sys.argv[1:] or ferzoo.list_models()
record_exports(names, EXPORT_RESULTS)
print(f"updated {EXPORT_RESULTS}; regenerate the README table: python tools/update_readme.py")
