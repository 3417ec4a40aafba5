"""gscpr.text.plural: a count with its noun in the number the count asks for."""

import pytest

from gscpr.text import plural


@pytest.mark.parametrize(
    "n, noun, said",
    [
        (1, "query", "1 query"),
        (0, "query", "0 queries"),
        (2, "query", "2 queries"),
        (1, "test view", "1 test view"),
        (3, "test view", "3 test views"),
        (2, "match", "2 matches"),
        (4, "pass", "4 passes"),
        (5, "day", "5 days"),  # a vowel before the y: just an s
        (-1, "step", "-1 step"),
    ],
)
def test_the_count_decides_the_number_of_the_noun(n, noun, said):
    assert plural(n, noun) == said


def test_an_irregular_plural_is_given():
    assert plural(2, "vertex", "vertices") == "2 vertices" and plural(1, "vertex", "vertices") == "1 vertex"
