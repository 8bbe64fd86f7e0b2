"""Regenerate the model table in README.md from the registry (thin: see ferzoo.docs)."""

from pathlib import Path

import ferzoo
from ferzoo.docs import TABLE_BEGIN, TABLE_END, model_table

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
head, rest = text.split(TABLE_BEGIN)
_, tail = rest.split(TABLE_END)
readme.write_text(f"{head}{TABLE_BEGIN}\n{model_table(ferzoo.list_models())}\n{TABLE_END}{tail}")
print(f"updated {readme}")
