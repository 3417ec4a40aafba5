"""What a run's ``refined`` status and confidences are worth (gscpr.calibration): acceptance, precision and recall
of ``refined``, reliability bins and the expected calibration error."""

import numpy as np
import pytest

from gscpr.calibration import acceptance, expected_calibration_error, reliability_bins


def test_reliability_bins_count_each_confidence_once_with_one_in_the_last_bin():
    bins = reliability_bins([0.0, 0.05, 0.55, 0.95, 1.0], [False, True, True, True, False])
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[0]["confidence"] == pytest.approx(0.025) and bins[0]["success"] == 0.5
    assert bins[1]["confidence"] is None and bins[1]["success"] is None  # empty: no made-up rate
    assert bins[9] == {"lo": 0.9, "hi": 1.0, "count": 2, "confidence": pytest.approx(0.975), "success": 0.5}
    with pytest.raises(ValueError, match="2 confidences for 1 outcomes"):
        reliability_bins([0.1, 0.2], [True])


def test_ece_is_zero_when_calibrated_and_the_weighted_gap_otherwise():
    # 10 queries at 0.8, 8 right: calibrated.
    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)
    # Always sure (0.95), right half the time: off by 0.45.
    assert expected_calibration_error([0.95] * 4, [True, False, True, False]) == pytest.approx(0.45)
    # Two bins: 0.1 (2 queries, 1 right: gap 0.4) and 0.9 (2 queries, 2 right: gap 0.1): (2 * 0.4 + 2 * 0.1) / 4.
    assert expected_calibration_error([0.1, 0.1, 0.9, 0.9], [True, False, True, True]) == pytest.approx(0.25)
    assert np.isnan(expected_calibration_error([], []))


def test_precision_and_recall_of_refined():
    statuses = ["refined", "refined", "unverified", "unverified", "too_few_matches", "refined"]
    success = [True, False, False, False, False, True]  # final poses (unverified: the coarse pose kept)
    solved = [True, False, True, False, None, True]  # the solver's poses; none for too_few_matches
    conf = [0.9, 0.6, 0.2, 0.1, None, 0.95]
    a = acceptance(statuses, success, solved, conf)
    assert a["queries"] == 6 and a["accepted"] == 3 and a["acceptance_rate"] == pytest.approx(0.5)
    assert a["precision"] == pytest.approx(2 / 3)  # of 3 accepted, 2 right
    assert a["recall"] == pytest.approx(2 / 3)  # of 3 right solved poses, the unverified one was rejected
    assert a["solved"] == 5 and a["solved_right"] == 3 and a["confidence_recorded"] == 5
    assert sum(b["count"] for b in a["reliability"]) == 5
    assert a["ece"] == pytest.approx(expected_calibration_error([0.9, 0.6, 0.2, 0.1, 0.95], solved[:4] + [True]))


def test_without_confidences_or_accepted_queries_nothing_is_made_up():
    a = acceptance(["refined", "too_few_inliers"], [True, False], [True, None], [None, None])
    assert a["precision"] == 1.0 and a["recall"] == 1.0  # the status alone still says this
    assert a["confidence_recorded"] == 0 and a["ece"] is None and a["reliability"] is None
    none = acceptance(["pnp_failed"], [False], [None], [None])
    assert none["accepted"] == 0 and none["precision"] is None and none["recall"] is None
    empty = acceptance([], [], [], [])
    assert empty["acceptance_rate"] is None and empty["ece"] is None
    with pytest.raises(ValueError, match="one entry per query"):
        acceptance(["refined"], [True, False], [True], [0.5])
