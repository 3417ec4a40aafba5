"""The paper's literal commands with the real mast3r code: one query through ``gs_cpr_7s.py`` and
``gs_cpr_7s_rel.py`` (``gscpr.paper.run.main``) on a generated 7-Scenes working directory, with a random-weight
MASt3R (tests/conftest.py). The pose of a random network is meaningless: the test holds the files, their
formats, the statuses, the options the paper recipe gives MASt3R and that GS-CPR_rel's solver really ran."""

import json
import re

import pytest

from gscpr.paper import run as paper_run
from gscpr.poses import read_poses
from gscpr.solvers.relative_mast3r import Mast3rPairSolver

from .fixtures import make_7scenes_with_renders

NAME = "seq-03-frame-000000.color.png"
LINE = re.compile(r"^\S+( -?\d+(\.\d+)?(e-?\d+)?){7}$")


@pytest.fixture
def spies(monkeypatch):
    """The matcher options each run loads, and the mast3r-pair solver's calls."""
    loaded, solved = [], []
    load, solve = paper_run.load_matcher, Mast3rPairSolver.solve_pointmaps

    def load_matcher(name, device=None, **options):
        loaded.append((name, options))
        return load(name, device, **options)

    def solve_pointmaps(self, pair, options=None):
        est = solve(self, pair, options)
        solved.append(est)
        return est

    monkeypatch.setattr(paper_run, "load_matcher", load_matcher)
    monkeypatch.setattr(Mast3rPairSolver, "solve_pointmaps", solve_pointmaps)
    return loaded, solved


def snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_gs_cpr_7s_and_rel_write_the_originals_files_apart(tiny_mast3r, tmp_path, spies):
    loaded, solved = spies
    make_7scenes_with_renders(tmp_path, "chess", "ace", [NAME])
    argv = ["--pose_estimator", "ace", "--scene", "chess", "--matcher_checkpoint", str(tiny_mast3r),
            "--root", str(tmp_path), "--device", "cpu"]  # fmt: skip
    outputs = tmp_path / "outputs" / "7scenes"

    status = paper_run.main("7scenes", argv=argv)  # gs_cpr_7s.py: --recipe paper, MASt3R by default
    absolute = outputs / "GS_CPR_ace_results"
    lines = (absolute / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(NAME + " ") and LINE.match(lines[0])
    log = (absolute / "logs_chess.log").read_text()
    assert "--------------GS-CPR for ace:chess--------------" in log and "After refine Accuracy:" in log
    (record,) = [json.loads(x) for x in (absolute / "refine_predictions" / "chess" / "results.jsonl").open()]
    assert record["name"] == NAME and record["status"] in {"refined", "pnp_failed", "too_few_inliers",
                                                           "too_few_matches", "too_few_valid_depth"}  # fmt: skip
    assert status == (0 if record["status"] == "refined" else 2)  # nothing refined: exit 2, the files written
    assert loaded[-1] == ("mast3r", {"resize": "pil", "keypoints": "original", "checkpoint": str(tiny_mast3r)})
    assert solved == []  # the absolute variant never calls the relative solver
    before = snapshot(absolute)

    status = paper_run.main("7scenes", relative=True, argv=argv)  # gs_cpr_7s_rel.py
    assert snapshot(absolute) == before  # the absolute run's folder untouched, not resumed from
    rel = outputs / "GS_CPR_rel_ace_results"
    poses = read_poses(rel / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt")
    assert list(poses) == [NAME] and LINE.match((rel / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt")
                                                .read_text().strip())  # fmt: skip
    log = (rel / "logs_chess.log").read_text()
    assert "--------------GS-CPR_rel for ace:chess--------------" in log and "GS-CPR for" not in log
    assert loaded[-1][1]["pairwise"] is True and loaded[-1][1]["resize"] == "pil"
    assert loaded[-1][1]["correspondences"] is False  # the original's _rel matches nothing
    assert len(solved) == 1  # GS-CPR_rel's pose came from MASt3R's pointmaps (mast3r-pair)
    (record,) = [json.loads(x) for x in (rel / "refine_predictions" / "chess" / "results.jsonl").open()]
    expected = "refined" if solved[0] is not None else "relative_pose_failed"
    assert record["status"] in {expected, "too_few_valid_depth", "too_few_inliers"}
    assert status == (0 if record["status"] == "refined" else 2)
