"""Shared fixtures: where the real sample media lives, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """The project's shared/ folder (set FERZOO_SHARED when it is not beside the repo)."""
    return Path(os.environ.get("FERZOO_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "data" / "real").is_dir():
        pytest.fail(f"shared data not found at {path}; set FERZOO_SHARED")
    return path


@pytest.fixture(scope="session")
def real_dir(shared_dir) -> Path:
    return shared_dir / "data" / "real"
