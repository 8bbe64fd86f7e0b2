"""One module per paper. Importing this package registers every model.

Every module in this folder is imported, so a new paper's file is registered (and
covered by ``tests/models/test_all_models.py``) as soon as it exists.
"""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
