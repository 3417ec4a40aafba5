"""Shared fixtures. Real data lives in ../shared/data (never in this repository); tests that need it skip
with a clear reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gscpr.match.mast3r import TINY_ARCHITECTURE

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


# ----------------------------------------------------------------------------- the real MASt3R code
MAST3R_CODE = Path(
    os.environ.get("GSCPR_MAST3R_CODE", Path(__file__).resolve().parents[2] / "shared" / "third_party" / "mast3r")
)
#: A small configuration of the released architecture (gscpr.match.mast3r.TINY_ARCHITECTURE: catmlp+dpt needs
#: dec_depth > 9): a 512-px pair in a few seconds on two CPU cores. The released ViT-L is enc 1024/24/16,
#: dec 768/12/12 (third_party/SOURCE.md).
TINY_MAST3R = TINY_ARCHITECTURE


def _skip_or_fail(reason: str) -> None:
    """Skip; a failure where ``GSCPR_REQUIRE_MAST3R=1`` (CI, where ../shared/third_party/mast3r exists)."""
    if os.environ.get("GSCPR_REQUIRE_MAST3R") == "1":
        pytest.fail(f"{reason} (GSCPR_REQUIRE_MAST3R=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mast3r_code() -> Path:
    """The real mast3r clone (../shared/third_party/mast3r, or GSCPR_MAST3R_CODE) put on ``sys.path``; skips
    naming what is missing (fails instead where GSCPR_REQUIRE_MAST3R=1)."""
    import importlib.util
    import sys

    if not (MAST3R_CODE / "mast3r" / "model.py").is_file():
        _skip_or_fail(f"the real mast3r code is not available: {MAST3R_CODE} (place ../shared beside the repo)")
    missing = [m for m in ("einops", "huggingface_hub", "packaging", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        _skip_or_fail(f"mast3r's dependencies are not installed: {', '.join(missing)} (pip install 'gscpr[mast3r]')")
    if str(MAST3R_CODE) not in sys.path:
        sys.path.insert(0, str(MAST3R_CODE))
    return MAST3R_CODE


@pytest.fixture(scope="session")
def tiny_mast3r(mast3r_code, tmp_path_factory) -> Path:
    """A random-weight checkpoint of :data:`TINY_MAST3R` in the released format: ``torch.save({'model':
    state_dict, 'args': namespace with .model = the constructor string})`` (the package's writer)."""
    from gscpr.match.mast3r import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("mast3r") / "tiny_mast3r.pth", TINY_MAST3R)
