"""The README's model table is what the code generates (never typed by hand)."""

import pytest

import ferzoo
from ferzoo.docs import TABLE_BEGIN, TABLE_END, model_table
from tests.conftest import REPO


@pytest.mark.slow
def test_readme_model_table_is_generated():
    readme = (REPO / "README.md").read_text()
    assert TABLE_BEGIN in readme and TABLE_END in readme
    current = readme.split(TABLE_BEGIN)[1].split(TABLE_END)[0].strip()
    assert current == model_table(ferzoo.list_models()).strip(), (
        "README.md's model table is stale: run `python tools/update_readme.py`"
    )
