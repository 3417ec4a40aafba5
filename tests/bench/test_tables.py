"""bench.md's columns of what the refined status is worth, for runs with and without recorded confidences and for
bench.json files written before these figures existed."""

from gscpr.bench.tables import NO_CONFIDENCE, TRUST_HEAD, trust_cells

RUN = {"acceptance_rate": 0.9, "precision": 1.0, "recall": 0.95, "confidence_recorded": 20, "ece": 0.0312,
       "after_accepted": {"success_fine": 0.5, "median_rot_deg": 0.1234}}  # fmt: skip


def test_trust_cells_say_the_figures_and_what_is_missing():
    assert trust_cells(RUN) == ["90.0 %", "100.0 %", "50.0 %", "0.123", "95.0 %", "0.031"]
    assert trust_cells({**RUN, "confidence_recorded": 0, "ece": None})[-1] == NO_CONFIDENCE
    nothing = {**RUN, "acceptance_rate": 0.0, "precision": None, "after_accepted": None}
    assert trust_cells(nothing)[:4] == ["0.0 %", "–", "–", "–"]
    assert trust_cells({"statuses": {}}) == ["–"] * len(TRUST_HEAD)  # an older bench.json
