"""Named refinement recipes: :class:`~gscpr.refine.RefineConfig` presets, chosen with ``--recipe``.

==========  ====================================================================================================
recipe      what
==========  ====================================================================================================
``gscpr``   the project's default: PoseLib LO-RANSAC at 2 px, sub-pixel alignment of the matches, recovery
            renders for queries whose first pass finds nothing, at most 1024 matches spread over the view,
            bilinear depth on opaque (alpha >= 0.5) surfaces, gsplat's rasterizer settings
``paper``   GS-CPR as published (Liu et al., ICLR 2025; the code of github.com/siyanhu/GS-CPR): OpenCV
            EPnP-RANSAC with 2000 iterations, confidence 0.99 and a 1 px threshold (the paper scripts use 2.5 px
            on Cambridge's 1920x1080), every match, the depth of pixel ``[int(y), int(x)]``, ``K`` with the
            principal point at ``(W/2, H/2)``, renders with the Inria rasterizer's near plane 0.2, alpha cap
            0.99 and depth ``sum(z a T) / (sum(a T) + 1e-6)``, no sub-pixel step, no recovery, one pass, no
            verification
==========  ====================================================================================================

A recipe also chooses matcher options and GS-CPR_rel's solver where the original defines them
(:data:`RECIPE_MATCHER_OPTIONS`, :data:`RECIPE_RELATIVE_SOLVER`; :func:`matcher_options`): ``paper`` with the
``mast3r`` matcher resizes with PIL on 8-bit images and maps keypoints as the original does, and its relative
variant takes the pose from MASt3R's pairwise pointmaps (``mast3r-pair``).

Where the paper recipe departs from the original, knowingly (README, "The two recipes"): pixels with no
rendered depth are dropped instead of lifted to the camera centre, and a RANSAC failure keeps the coarse pose
with a status instead of writing OpenCV's untested output. The original writes whatever
``cv2.solvePnPRansac`` returns once it has 4 matches; OpenCV itself reports no pose when no 5-point EPnP
hypothesis is consistent with its own sample, but with 4 or 5 points it solves them all and calls every one
an inlier, untested. So the paper recipe's ``min_inliers`` is 6: a pose needs at least one correspondence
beyond its 5-point sample that agrees with it; fewer is ``too_few_inliers``, the coarse pose kept and flagged.

A recipe is plain data: ``get_recipe("paper", iterations=2)`` is the preset with one field changed. The command
line options of :func:`add_refine_arguments` default to ``None``, meaning "the recipe's value"; the value used is
recorded in each run's ``config.json``.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import fields, replace

from .argtypes import fraction, nonnegative_float, nonnegative_int, open_fraction, positive_float, positive_int
from .refine.config import DEPTH_SAMPLING, PRINCIPAL_POINTS, RefineConfig
from .solvers import get_solver, solver_names

__all__ = [
    "OPTIONS",
    "RECIPES",
    "RECIPE_MATCHER_OPTIONS",
    "RECIPE_RELATIVE_SOLVER",
    "add_refine_arguments",
    "config_from_args",
    "get_recipe",
    "matcher_options",
    "relative_solver_for",
]

RECIPES: dict[str, RefineConfig] = {
    "gscpr": RefineConfig(),
    # The solver's own RANSAC bounds are the original's (opencv-epnp: 2000 iterations, confidence 0.99).
    "paper": RefineConfig(
        solver="opencv-epnp", ransac_px=1.0, subpixel=False, recovery=(), iterations=1, max_matches=None,
        min_inliers=6, depth_sampling="floor", min_alpha=0.0, principal_point="half-size", near_plane=0.2,
        alpha_cap=0.99, depth_eps=1e-6, verify=False,
    ),
}  # fmt: skip

#: recipe -> matcher -> constructor options (``gscpr.match``) the recipe sets; options the user gives win.
RECIPE_MATCHER_OPTIONS: dict[str, dict[str, dict]] = {
    "paper": {"mast3r": {"resize": "pil", "keypoints": "original"}},  # dust3r's load_images, the scripts' mapping
}
#: recipe -> matcher -> the relative pose solver of GS-CPR_rel (others: RefineConfig.relative_solver's default).
RECIPE_RELATIVE_SOLVER: dict[str, dict[str, str]] = {"paper": {"mast3r": "mast3r-pair"}}


def relative_solver_for(recipe: str | None, matcher: str) -> str | None:
    """GS-CPR_rel's solver that ``recipe`` chooses with ``matcher``, or ``None`` (the configuration's own)."""
    return RECIPE_RELATIVE_SOLVER.get(recipe or "", {}).get(matcher)


def matcher_options(
    recipe: str | None, matcher: str, config: RefineConfig | None = None, given: dict | None = None
) -> dict:
    """The constructor options of ``matcher`` under ``recipe``: the recipe's (:data:`RECIPE_MATCHER_OPTIONS`),
    then ``given`` over them, and ``pairwise=True, correspondences=False`` (MASt3R's pointmaps, no matches) where
    ``config``'s relative solver takes pointmaps."""
    options = {**RECIPE_MATCHER_OPTIONS.get(recipe or "", {}).get(matcher, {}), **(given or {})}
    takes = getattr(get_solver(config.relative_solver), "inputs", "") if config is not None else ""
    if config is not None and config.relative and takes == "pointmaps":
        options.setdefault("pairwise", True)
        options.setdefault("correspondences", False)  # the pointmaps give the pose: no nearest neighbours
    return options


def get_recipe(name: str, **overrides) -> RefineConfig:
    """A copy of the recipe ``name`` with ``overrides`` (RefineConfig fields) applied; ``ValueError`` if unknown."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {', '.join(RECIPES)}")
    known = {f.name for f in fields(RefineConfig)}
    if bad := set(overrides) - known:
        raise ValueError(f"not a refinement option: {', '.join(sorted(bad))}")
    return replace(copy.deepcopy(RECIPES[name]), **overrides)


def _arguments() -> dict[str, dict]:
    """argparse keyword arguments of each option :func:`add_refine_arguments` can add, defaults from RECIPES."""

    def default(field: str) -> str:
        return "; ".join(f"{name}: {getattr(cfg, field)}" for name, cfg in RECIPES.items())

    return {
        "solver": {"choices": solver_names("absolute"), "help": f"PnP solver ({default('solver')})"},
        "relative_solver": {"choices": solver_names("relative"),
                            "help": "two-view solver of GS-CPR_rel (paper recipe with mast3r: mast3r-pair; "
                            f"otherwise {RECIPES['gscpr'].relative_solver})"},
        "ransac_px": {"type": positive_float, "help": f"inlier threshold in query pixels ({default('ransac_px')})"},
        "min_inliers": {"type": positive_int, "help": f"fewer inliers keep the coarse pose ({default('min_inliers')})"},
        "iterations": {"type": positive_int, "help": f"render-match-solve passes at most ({default('iterations')})"},
        "subpixel": {"action": argparse.BooleanOptionalAction,
                     "help": f"align keypoints to their render patch ({default('subpixel')})"},
        "recovery": {"action": argparse.BooleanOptionalAction,
                     "help": "render again with wider and other-focal cameras when the first pass finds nothing "
                     "(gscpr: on; paper: off)"},
        "render_scale": {"type": positive_float,
                         "help": f"render and match at this fraction of the query size ({default('render_scale')})"},
        "relative": {"action": "store_true", "default": None,
                     "help": "GS-CPR_rel: relative pose render -> query, scaled by the rendered depth"},
        "max_matches": {"type": nonnegative_int,
                        "help": f"keep at most this many matches, spread over the view; 0: all "
                        f"({default('max_matches')})"},
        "depth_sampling": {"choices": list(DEPTH_SAMPLING),
                           "help": f"depth at a render keypoint ({default('depth_sampling')})"},
        "principal_point": {"choices": list(PRINCIPAL_POINTS),
                            "help": f"principal point of lifting and PnP: the camera's, or (W/2, H/2) in pixel "
                            f"indices as the original ({default('principal_point')})"},
        "near_plane": {"type": nonnegative_float,
                       "help": f"rasterizer near plane, scene units ({default('near_plane')})"},
        "alpha_cap": {"type": open_fraction,
                      "help": f"largest alpha of one Gaussian at a pixel ({default('alpha_cap')})"},
        "background": {"type": fraction, "nargs": 3, "metavar": ("R", "G", "B"),
                       "help": "RGB in [0, 1] behind the renders and the transparent pixels of RGBA queries "
                       "(default: the model's cfg_args white_background where it has one, else the dataset "
                       "format's: white for Blender scenes, black otherwise)"},
        "backend": {"choices": ["auto", "gsplat", "torch"], "help": f"rasterizer ({default('backend')})"},
        "verify": {"action": argparse.BooleanOptionalAction,
                   "help": "verify each solved pose and give it a calibrated confidence; over 11 or more refined "
                   "queries of one camera, check that their matches agree with its focal length (a one-signed bias "
                   f"beyond 1 %% makes them all unverified) ({default('verify')})"},
        "min_confidence": {"type": fraction, "help": "a verified pose needs this confidence (default: the fitted "
                           "model's threshold)"},
        "keep_unverified": {"action": "store_true", "default": None,
                            "help": "an unverified query keeps its refined pose (flagged) instead of the coarse one"},
    }  # fmt: skip


#: The options :func:`add_refine_arguments` can add (RefineConfig fields; ``recovery`` as on / off).
OPTIONS = ("solver", "relative_solver", "ransac_px", "min_inliers", "iterations", "subpixel", "recovery",
           "render_scale", "relative", "max_matches", "depth_sampling", "principal_point", "near_plane", "alpha_cap",
           "background", "backend", "verify", "min_confidence", "keep_unverified")  # fmt: skip


def add_refine_arguments(
    parser: argparse.ArgumentParser,
    recipe: str = "gscpr",
    style: str = "-",
    options: tuple[str, ...] = OPTIONS,
    flags: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """Add ``--recipe`` and the refinement ``options`` to a command, each defaulting to ``None``: the recipe's
    value. ``style`` is the flags' word separator: ``-`` (``gscpr``) or ``_`` (the paper's scripts:
    ``--ransac_px``); ``flags`` adds other spellings of an option (the ``_rel`` scripts' ``--solver`` is
    ``relative_solver``)."""
    group = parser.add_argument_group("refinement (each option defaults to the recipe's value)")
    group.add_argument("--recipe", default=recipe, choices=list(RECIPES), help=f"preset of every option ({recipe})")
    table = _arguments()
    for name in options:
        spellings = (*(flags or {}).get(name, ()), "--" + name.replace("_", style))  # the first one in messages
        group.add_argument(*spellings, dest=name, **table[name])


def config_from_args(args: argparse.Namespace, **overrides) -> RefineConfig:
    """The :class:`RefineConfig` of parsed :func:`add_refine_arguments` options: the recipe, then the options
    given, then ``overrides`` (values of ``None`` are skipped). A solver given for the variant that does not run
    (``solver`` with ``relative``, ``relative_solver`` without), and ``min_confidence`` / ``keep_unverified``
    with verification off, is a ``ValueError``, not ignored."""
    given = {f: getattr(args, f) for f in OPTIONS if getattr(args, f, None) is not None}
    relative = overrides.get("relative") or given.get("relative")
    if relative and "solver" in given:
        raise ValueError(f"--solver {given['solver']} is the PnP solver of absolute refinement; GS-CPR_rel takes "
                         f"--relative-solver ({', '.join(solver_names('relative'))})")  # fmt: skip
    if not relative and "relative_solver" in given:
        raise ValueError(f"--relative-solver {given['relative_solver']} is for GS-CPR_rel: add --relative")
    if "background" in given:
        given["background"] = tuple(given["background"])
    if "recovery" in given:
        given["recovery"] = RECIPES["gscpr"].recovery if given["recovery"] else ()
    given.update({k: v for k, v in overrides.items() if v is not None})
    config = get_recipe(args.recipe, **given)
    if not config.verify:  # the options of verification would be ignored: say so instead
        unused = [f"--{f.replace('_', '-')}" for f in ("min_confidence", "keep_unverified") if f in given]
        if unused:
            off = "--no-verify" if "verify" in given else f"--recipe {args.recipe}"
            raise ValueError(f"{' and '.join(unused)} would be ignored: {off} turns verification off (add --verify "
                             "to verify the poses)")  # fmt: skip
    return config
