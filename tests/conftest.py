"""Shared fixtures: the real sample media committed with the tests, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


REAL_MEDIA = REPO / "tests" / "data" / "real"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real sample media committed with the tests (sources and licences in SOURCES.md)."""
    return REAL_MEDIA
