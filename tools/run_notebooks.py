"""Build the notebooks from their sources, execute them and write them WITH their outputs.

    python tools/run_notebooks.py                       # every notebooks/*.py
    python tools/run_notebooks.py notebooks/01_quickstart.py
    python tools/run_notebooks.py --check               # execute only, write nothing

The source of ``notebooks/NAME.ipynb`` is ``notebooks/NAME.py``, in jupytext's percent
format (``# %% [markdown]`` and ``# %%`` cells): edit the ``.py``, then run this tool, which
builds the notebook from it with jupytext, runs it top to bottom in a fresh ``python3``
kernel, in a temporary working folder (what it writes under ``notebook_runs/`` is thrown
away), with the repository on ``PYTHONPATH`` so the kernel imports this checkout's ferzoo,
and writes ``notebooks/NAME.ipynb`` with its outputs (committed: read on GitHub, opened in
Colab). A failing cell stops with its traceback. The notebook's metadata records
(``metadata.ferzoo``) the SHA-256 of its code cells' sources and the ferzoo version:
``tests/test_notebooks.py`` checks that the committed cells are those of the source and
that the stored hash still matches them, i.e. that the committed outputs are current.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT = 600  # seconds per cell
# Noise that would only make diffs of the committed outputs (TF/absl log lines).
_NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
                    r"|INFO:tensorflow:|INFO: Created TensorFlow Lite|\[IPKernelApp\] WARNING)")


def code_hash(nb) -> str:
    """SHA-256 of the notebook's code cells' sources, in order (outputs not included)."""
    sources = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
               for cell in nb["cells"] if cell["cell_type"] == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def build(source: str | os.PathLike):
    """The notebook (without outputs) of a jupytext percent-format source ``NAME.py``."""
    import jupytext

    source = Path(source)
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    for i, cell in enumerate(nb.cells):  # stable ids: no diff noise when rebuilt
        cell["id"] = f"{source.stem[:2]}-{i:02d}"
        cell["metadata"] = {}
    return nb


def kernel_environment() -> dict[str, str]:
    """The kernel's environment: this checkout importable, few threads, quiet TF."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_NUM_INTRAOP_THREADS", "2")
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _strip_noise(nb) -> None:
    """Drop TF/absl log lines from stream outputs; drop outputs left empty."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines = [line for line in output["text"].splitlines(keepends=True)
                         if not _NOISE.match(line)]
                if not "".join(lines).strip():
                    continue
                output["text"] = "".join(lines)
            kept.append(output)
        cell["outputs"] = kept


def execute(source: str | os.PathLike, workdir: str | os.PathLike | None = None):
    """Build the notebook of ``source`` (``NAME.py``) and run it in ``workdir`` (default: a
    temporary folder); return it executed."""
    from nbclient import NotebookClient

    nb = build(source)
    with tempfile.TemporaryDirectory(prefix="ferzoo-nb-") as tmp:
        client = NotebookClient(
            nb, kernel_name="python3", timeout=CELL_TIMEOUT, record_timing=False,
            resources={"metadata": {"path": str(workdir or tmp)}},
        )
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(kernel_environment())
        try:
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    _strip_noise(nb)
    return nb


def stamp(nb) -> None:
    """Record what the outputs were produced from."""
    sys.path.insert(0, str(ROOT))
    import ferzoo

    nb.metadata["ferzoo"] = {"code_sha256": code_hash(nb), "ferzoo_version": ferzoo.__version__,
                             "executed_by": "tools/run_notebooks.py"}


def main(argv=None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*",
                        help="sources notebooks/NAME.py (or their .ipynb); default: all")
    parser.add_argument("--check", action="store_true", help="execute only, write nothing")
    args = parser.parse_args(argv)
    sources = [Path(p).with_suffix(".py") for p in args.notebooks]
    sources = sources or sorted(NOTEBOOK_DIR.glob("*.py"))
    for source in sources:
        start = time.time()
        nb = execute(source)
        seconds = time.time() - start
        if not args.check:
            stamp(nb)
            nbformat.write(nb, source.with_suffix(".ipynb"))
        print(f"{source.with_suffix('.ipynb').name}: ran in {seconds:.0f} s"
              f"{'' if args.check else ', written'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
