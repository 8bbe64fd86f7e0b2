"""The Colab notebooks under notebooks/: committed with current outputs, and they run.

Each notebook ``notebooks/NAME.ipynb`` is built from its source ``notebooks/NAME.py``
(jupytext's percent format) by ``tools/run_notebooks.py``, which also executes it and
stores its outputs. The fast tests read the committed .ipynb files: their cells are those
of the source (so a source edited without re-running fails here: run
``python tools/run_notebooks.py notebooks/NAME.py``), the Colab badge and the install cell
come first, every code cell has outputs and none failed, the promised plots are there, and
the code hash stored by ``tools/run_notebooks.py`` matches the code cells. The slow test
builds every notebook from its source and executes it top to bottom with nbclient.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
# The project's public repository: every notebook's badge and install cell name it.
REPO_URL = "https://github.com/ferzoo/ferzoo"

# Notebook -> the least number of image outputs (plots, figures) it promises.
MIN_IMAGES = {
    "01_quickstart.ipynb": 4,  # contact sheet, confusion matrix, video frames, timeline
    "02_your_dataset.ipynb": 2,  # aligned face clips, per-fold scores
    "03_export_to_edge.ipynb": 2,  # latency and size, LiteRT timeline
    "04_look_inside.ipynb": 4,  # STAM (one layer, all layers), LSTformer, MSPP
}


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"ferzoo_tools_{name}",
                                                  ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(filename: str):
    return nbformat.read(NOTEBOOK_DIR / filename, as_version=4)


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _images(nb) -> int:
    return sum(1 for cell in _code_cells(nb) for output in cell.outputs
               if any(kind.startswith("image/") for kind in output.get("data", {})))


def _source(filename: str) -> Path:
    """The jupytext source of a notebook: notebooks/NAME.py."""
    return NOTEBOOK_DIR / Path(filename).with_suffix(".py").name


def test_every_notebook_is_listed():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(MIN_IMAGES)
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.py")) == sorted(
        _source(filename).name for filename in MIN_IMAGES)


@pytest.mark.parametrize("filename", sorted(MIN_IMAGES))
def test_cells_are_those_of_the_source(filename):
    built = _tool("run_notebooks").build(_source(filename))
    expected = [(c.cell_type, c.source) for c in built.cells]
    committed = [(c.cell_type, c.source) for c in _read(filename).cells]
    assert committed == expected, (
        f"{filename} differs from its source notebooks/{_source(filename).name}; run "
        f"python tools/run_notebooks.py notebooks/{_source(filename).name}")


@pytest.mark.parametrize("filename", sorted(MIN_IMAGES))
def test_badge_then_install_cell(filename):
    nb = _read(filename)
    repo = REPO_URL
    first_markdown = next(cell for cell in nb.cells if cell.cell_type == "markdown")
    assert nb.cells[0] is first_markdown
    assert "https://colab.research.google.com/assets/colab-badge.svg" in first_markdown.source
    colab = repo.replace("https://github.com/", "https://colab.research.google.com/github/")
    assert f"({colab}/blob/main/notebooks/{filename})" in first_markdown.source
    install = _code_cells(nb)[0].source
    for needed in ("import ferzoo", "except ImportError", "%pip install", f"git+{repo}"):
        assert needed in install, f"{filename}: the first code cell lacks {needed!r}"
    # The install happens only in the except branch: CI (ferzoo importable) never installs.
    assert install.index("try:") < install.index("import ferzoo") < install.index("%pip")


@pytest.mark.parametrize("filename", sorted(MIN_IMAGES))
def test_committed_outputs_are_current(filename):
    nb = _read(filename)
    stored = nb.metadata.get("ferzoo", {}).get("code_sha256")
    assert stored, f"{filename} was not executed by tools/run_notebooks.py"
    assert stored == _tool("run_notebooks").code_hash(nb), (
        f"{filename}: code cells changed since the outputs were made; run "
        f"python tools/run_notebooks.py notebooks/{_source(filename).name}")
    for index, cell in enumerate(_code_cells(nb)):
        assert cell.execution_count is not None, f"{filename}: code cell {index} not run"
        assert cell.outputs, f"{filename}: code cell {index} has no output"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{filename}: code cell {index} failed: {errors[0].get('evalue')}"
    images = _images(nb)
    assert images >= MIN_IMAGES[filename], (
        f"{filename}: {images} image outputs, expected at least {MIN_IMAGES[filename]}")


@pytest.mark.parametrize("filename", sorted(MIN_IMAGES))
def test_outputs_name_no_machine_paths(filename):
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                   for cell in _code_cells(_read(filename)) for o in cell.outputs)
    for fragment in ("ferzoo-nb-", "/work/", "/home/"):
        assert fragment not in text, f"{filename}: an output shows a local path ({fragment})"


@pytest.mark.slow
@pytest.mark.parametrize("filename", sorted(MIN_IMAGES))
def test_notebook_runs_top_to_bottom(filename, tmp_path):
    """Build the notebook from its source and execute it in a fresh kernel, in a temporary
    folder; any cell error fails."""
    pytest.importorskip("jupytext")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if filename.startswith("03_"):
        for module in ("tf2onnx", "onnxruntime", "ai_edge_litert"):
            pytest.importorskip(module)
    nb = _tool("run_notebooks").execute(_source(filename), workdir=tmp_path)
    assert _images(nb) >= MIN_IMAGES[filename]
