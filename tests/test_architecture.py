"""The package's layout keeps its promises: the import contracts in pyproject.toml hold
(the command line on top, importing downward only; data code never imports models), no
module is over 700 lines, and only the command line parses arguments."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "ferzoo"
MAX_LINES = 700


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_contracts_hold():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_is_over_700_lines():
    long = {str(p.relative_to(REPO)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_command_line_parses_arguments(path):
    if path.is_relative_to(PACKAGE / "cli"):
        return
    tree = ast.parse(path.read_text())
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    imports |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "argparse" not in imports, f"{path.name} imports argparse: move it to ferzoo/cli/"
    assert "main" not in functions, f"{path.name} has a main(): move it to ferzoo/cli/"
