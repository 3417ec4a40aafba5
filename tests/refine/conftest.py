"""Fixtures of the refinement tests: the generated textured room and XFeat on the CPU, built once per module."""

import pytest

from gscpr.match import load_matcher
from gscpr.synthetic import textured_room


@pytest.fixture(scope="module")
def room():
    return textured_room()


@pytest.fixture(scope="module")
def xfeat():
    return load_matcher("xfeat", "cpu")
