"""Recipes: named RefineConfig presets, and command-line options that default to the recipe's values."""

import argparse
import json
from dataclasses import asdict

import pytest

from gscpr.recipes import RECIPES, add_refine_arguments, config_from_args, get_recipe
from gscpr.refine import RefineConfig


def parse(argv, **kw):
    p = argparse.ArgumentParser()
    add_refine_arguments(p, **kw)
    return config_from_args(p.parse_args(argv))


def test_the_recipes_are_plain_data():
    assert RECIPES["gscpr"] == RefineConfig()
    paper = RECIPES["paper"]
    assert (paper.solver, paper.ransac_px, paper.subpixel, paper.recovery) == ("opencv-epnp", 1.0, False, ())
    assert json.loads(json.dumps(asdict(paper)))["solver"] == "opencv-epnp"  # recordable in config.json
    changed = get_recipe("paper", iterations=3)
    assert changed.iterations == 3 and RECIPES["paper"].iterations == 1  # a copy, the preset untouched
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        get_recipe("fast")
    with pytest.raises(ValueError, match="not a refinement option: ransac"):
        get_recipe("gscpr", ransac=3)


def test_options_default_to_the_recipe_and_override_it():
    assert parse([]) == RECIPES["gscpr"]
    assert parse(["--recipe", "paper"]) == RECIPES["paper"]
    cfg = parse(["--recipe", "paper", "--subpixel", "--recovery", "--ransac-px", "2.5", "--solver", "poselib"])
    assert cfg.subpixel and cfg.recovery == RECIPES["gscpr"].recovery and cfg.ransac_px == 2.5
    assert cfg.solver == "poselib" and cfg.iterations == 1
    cfg = parse(["--no-subpixel", "--no-recovery", "--relative", "--background", "1", "1", "1"])
    assert not cfg.subpixel and cfg.recovery == () and cfg.relative and cfg.background == (1.0, 1.0, 1.0)
    assert parse(["--solver", "paper"]).solver == "opencv-epnp"  # the old name still works


def test_the_paper_scripts_flag_style_and_a_subset_of_options():
    cfg = parse(["--ransac_px", "2.5", "--iterations", "2"], recipe="paper", style="_",
                options=("solver", "ransac_px", "iterations"))  # fmt: skip
    assert cfg == get_recipe("paper", ransac_px=2.5, iterations=2)
    with pytest.raises(SystemExit):
        parse(["--render-scale", "0.5"], style="_", options=("solver",))


def test_recipe_matcher_options_and_relative_solver():
    from gscpr.recipes import matcher_options, relative_solver_for

    assert matcher_options("paper", "mast3r") == {"resize": "pil", "keypoints": "original"}
    assert matcher_options("paper", "mast3r", given={"keypoints": "exact"})["keypoints"] == "exact"  # the user wins
    assert matcher_options("gscpr", "mast3r") == {} and matcher_options("paper", "xfeat") == {}
    assert relative_solver_for("paper", "mast3r") == "mast3r-pair"
    assert relative_solver_for("paper", "xfeat") is None and relative_solver_for("gscpr", "mast3r") is None
    rel = get_recipe("paper", relative=True, relative_solver="mast3r-pair")
    assert matcher_options("paper", "mast3r", rel) == {"resize": "pil", "keypoints": "original", "pairwise": True,
                                                       "correspondences": False}  # fmt: skip
    assert "pairwise" not in matcher_options("paper", "mast3r", get_recipe("paper", relative=True))  # essential


def test_the_paper_recipe_is_the_originals_settings():
    paper = RECIPES["paper"]
    # EPnP-RANSAC as cv2.solvePnPRansac in gs_cpr_*.py: 2000 iterations, confidence 0.99, 1 px (2.5 px Cambridge).
    from gscpr.solvers import get_solver

    opts = get_solver(paper.solver, "absolute").resolved(paper.pose_solver_options())
    assert (paper.solver, opts.max_iterations, opts.confidence, opts.threshold_px) == ("opencv-epnp", 2000, 0.99, 1.0)
    # Every match, one pass, no sub-pixel step or recovery; a pose needs one inlier beyond EPnP's 5-point sample.
    assert (paper.max_matches, paper.iterations, paper.subpixel, paper.recovery) == (None, 1, False, ())
    assert (paper.min_matches, paper.min_inliers) == (4, 6)
    # Depth of pixel [int(y), int(x)] wherever it is positive, K with the principal point at (W/2, H/2).
    assert (paper.depth_sampling, paper.min_alpha, paper.principal_point) == ("floor", 0.0, "half-size")
    # The Inria rasterizer's near plane, alpha cap and depth normaliser.
    assert paper.render_options() == {"near_plane": 0.2, "alpha_cap": 0.99, "depth_eps": 1e-6}
    gscpr = RECIPES["gscpr"]
    assert gscpr.render_options() == {"near_plane": 0.01, "alpha_cap": 0.999, "depth_eps": 0.0}
    gscpr_values = (gscpr.max_matches, gscpr.min_inliers, gscpr.depth_sampling, gscpr.principal_point)
    assert gscpr_values == (1024, 12, "bilinear", "camera")


def test_the_new_options_on_the_command_line_and_their_checks():
    cfg = parse(["--recipe", "paper", "--near-plane", "0.01", "--alpha-cap", "0.999", "--depth-sampling", "bilinear",
                 "--principal-point", "camera", "--max-matches", "512"])  # fmt: skip
    assert cfg.render_options()["near_plane"] == 0.01 and cfg.alpha_cap == 0.999 and cfg.max_matches == 512
    assert (cfg.depth_sampling, cfg.principal_point, cfg.depth_eps) == ("bilinear", "camera", 1e-6)
    for bad, match in [({"alpha_cap": 1.0}, "alpha_cap"), ({"near_plane": -1.0}, "near_plane"),
                       ({"depth_sampling": "cubic"}, "depth_sampling"), ({"principal_point": "w/2"}, "principal_point"),
                       ({"min_inliers": 0}, "min_inliers")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            get_recipe("paper", **bad)
    with pytest.raises(SystemExit):
        parse(["--depth-sampling", "cubic"])


def test_verification_options_without_verification_are_refused_not_ignored():
    assert parse(["--min-confidence", "0.5", "--keep-unverified"]).min_confidence == 0.5  # verification on
    with pytest.raises(ValueError, match="--min-confidence would be ignored: --no-verify turns verification off"):
        parse(["--no-verify", "--min-confidence", "0.5"])
    with pytest.raises(ValueError, match="--keep-unverified would be ignored: --recipe paper turns"):
        parse(["--recipe", "paper", "--keep-unverified"])
    cfg = parse(["--recipe", "paper", "--verify", "--min-confidence", "0"])
    assert cfg.verify and cfg.min_confidence == 0.0
