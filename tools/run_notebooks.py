"""Execute the notebooks and write them back WITH their outputs (what is committed).

    python tools/run_notebooks.py                       # every notebooks/*.ipynb
    python tools/run_notebooks.py notebooks/01_quickstart.ipynb
    python tools/run_notebooks.py --check               # execute only, write nothing

Each notebook runs top to bottom in a fresh ``python3`` kernel, in a temporary working
folder (what it writes under ``notebook_runs/`` is thrown away), with the repository on
``PYTHONPATH`` so the kernel imports this checkout's ferzoo. A failing cell stops with its
traceback. After a run the notebook's metadata records (``metadata.ferzoo``) the SHA-256
of its code cells' sources and the ferzoo version: ``tests/test_notebooks.py`` checks that
the stored hash still matches the code, i.e. that the committed outputs are current.
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


def execute(path: str | os.PathLike, workdir: str | os.PathLike | None = None):
    """Run one notebook in ``workdir`` (default: a temporary folder); return it executed."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
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
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--check", action="store_true", help="execute only, write nothing")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    for path in paths:
        start = time.time()
        nb = execute(path)
        seconds = time.time() - start
        if not args.check:
            stamp(nb)
            nbformat.write(nb, path)
        print(f"{path.name}: ran in {seconds:.0f} s{'' if args.check else ', written'}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
