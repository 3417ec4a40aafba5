"""Shared fixtures. Real data lives in ../shared/data (never in this repository); tests that need it skip
with a clear reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("GSCPR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test naming what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (set GSCPR_SHARED_DATA or place ../shared beside the repo)")
    return path


@pytest.fixture
def shared_data():
    """``shared_data("nerf_synthetic", "lego")`` -> Path, skipping if absent."""
    return shared_path
