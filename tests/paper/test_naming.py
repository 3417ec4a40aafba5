"""The output files' names: the paper scripts write where ``gscpr eval --refined-dir`` reads."""

import pytest

from gscpr.paper.naming import find_refined_file, log_file, records_dir, refined_file, results_dir


def test_the_original_layout_and_the_reader_finds_what_the_writer_names(tmp_path):
    results = results_dir(tmp_path / "outputs", "7scenes", "ace")
    assert results == tmp_path / "outputs" / "7scenes" / "GS_CPR_ace_results"
    path = refined_file(results, "ace", "chess")
    assert path == results / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt"
    assert records_dir(results, "chess") == results / "refine_predictions" / "chess"
    assert log_file(results, "chess") == results / "logs_chess.log"
    with pytest.raises(FileNotFoundError, match="no refined poses for chess: expected .*refine_predictions"):
        find_refined_file(results, "ace", "chess")
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert find_refined_file(results, "ace", "chess") == path  # the results folder
    assert find_refined_file(path.parent, "ace", "chess") == path  # or its refine_predictions folder
