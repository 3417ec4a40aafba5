"""``gscpr render`` on the paper's datasets (the original's ``script_render_pred_{7s,12s,cam}.sh``): render a
scene model at every coarse pose of an estimator, into the folder the paper scripts read::

    gscpr render --dataset 7scenes --scene chess --estimator ace

Poses: ``coarse_poses/<estimator>/...`` (``PaperDataset.coarse_pose_file``). Cameras: the original's per-scene
focal at the dataset's render size, principal point at the centre (7-/12-Scenes), or each Cambridge query's own
camera (its calibration file, rescaled to the full-resolution image; ``--legacy-focal``: the original's x 2.25).
Model: ``model_dir`` unless ``--model``; output: ``render_dir`` unless ``--out``, each render under the name the
original's render script gives it (``PaperDataset.render_names``: Cambridge ``seqN/frameM.png`` for every
estimator), which the paper scripts and the original's ``gs_cpr_*.py`` read. Cambridge renders take each query's
ACT colour transform: the weights ``find_act_weights`` finds (gscpr's ``act.pt`` in the model's folder, else the
released ``ACT_Scaffold_GS/logs/paper_models/<Scene>/030000.tar``), or ``--act`` (``--legacy-act-layout`` for
the released layout); ``--no-act`` renders without. Renders are made as the original's: near plane 0.2, alpha
cap 0.99, depth ``sum(z a T) / (sum(a T) + 1e-6)``, JPEG quality 75 (:func:`render_defaults`; ``--near-plane``,
``--alpha-cap``, ``--depth-eps``, ``--jpeg-quality`` override). The rendering itself is ``gscpr.render_poses``'s,
whose command line calls into this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..poses import PoseFileError, canonical_name, read_poses
from .datasets import (
    ACT_FILE,
    DATASETS,
    ActWeights,
    find_act_weights,
    get_dataset,
    model_dir,
    released_act_path,
    render_dir,
)

__all__ = ["add_arguments", "claims", "render_defaults", "run", "setup"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``the paper's datasets`` option group of ``gscpr render``."""
    paper = parser.add_argument_group("the paper's datasets (the original's folder layout)")
    paper.add_argument("--dataset", choices=sorted(DATASETS))
    paper.add_argument("--scene")
    paper.add_argument("--estimator", "--pose_estimator", dest="estimator", help="ace, glace, marepo or dfnet")
    paper.add_argument("--root", type=Path, default=Path("."), help="the GS-CPR repository root (default: .)")
    paper.add_argument("--coarse-dir", type=Path, help="coarse_poses/ folder (default: <root>/coarse_poses)")
    paper.add_argument("--datasets-dir", type=Path, help="ACE-layout datasets/ (default: <root>/datasets)")
    paper.add_argument(
        "--act",
        type=Path,
        help="ACT checkpoint to apply per query (Cambridge; default: the "
        "model folder's act.pt, else ACT_Scaffold_GS/logs/paper_models/<Scene>/030000.tar)",
    )
    paper.add_argument(
        "--legacy-act-layout",
        action="store_true",
        help="with --act: the released code's channel-layout quirk (found weights know their own)",
    )
    paper.add_argument("--no-act", action="store_true", help="Cambridge: render without ACT")
    paper.add_argument("--legacy-focal", action="store_true", help="Cambridge: the original's focal x 2.25")


def setup(
    args: argparse.Namespace, bad_lines: list[PoseFileError]
) -> tuple[dict[str, np.ndarray], Camera | dict[str, Camera], Path, Path, dict[str, Callable] | None]:
    """What ``gscpr render --dataset ...`` renders: ``(poses {name: w2c}, one camera or one per name, model path,
    output folder, ACT colour transforms per name or None)``. Malformed pose lines are appended to ``bad_lines``.

    Raises ``ValueError`` (missing or unknown scene / estimator, ``--act`` without query images),
    ``PoseFileError`` / ``FileNotFoundError`` (coarse poses) and ``DatasetError`` (Cambridge queries).
    """
    ds = get_dataset(args.dataset)
    if not (args.scene and args.estimator):
        raise ValueError("--dataset needs --scene and --estimator")
    ds.check_scene(args.scene)
    ds.check_estimator(args.estimator)
    coarse_dir = args.coarse_dir or args.root / "coarse_poses"
    poses = read_poses(ds.coarse_pose_file(coarse_dir, args.estimator, args.scene), on_error=bad_lines.append,
                       warn=lambda message: print(f"warning: {message}", file=sys.stderr))  # fmt: skip
    # Written under the original render script's names (Cambridge: seqN/frameM.png whatever the estimator).
    poses = {ds.render_names(n)[0]: p for n, p in poses.items()}
    model_path = args.model or model_dir(args.root, ds.name, args.scene)
    out = args.out or render_dir(args.root, ds.name, args.scene, args.estimator)
    transforms, queries = None, {}
    if ds.focal is not None:
        cameras = Camera.centered(*ds.render_size, ds.focal[args.scene])
    else:
        from ..data.cambridge import load_cambridge

        datasets_dir = args.datasets_dir or args.root / "datasets"
        frames = {f.name: f for f in load_cambridge(ds.scene_dir(datasets_dir, args.scene), "test",
                                                     legacy_focal=args.legacy_focal)}  # fmt: skip
        cameras, missing = {}, []
        for name in poses:
            frame = frames.get(canonical_name(name, "cambridge"))
            if frame is None:
                missing.append(name)
                continue
            cameras[name] = frame.camera
            queries[name] = frame.image_path
        if missing:
            print(
                f"warning: {len(missing)} pose(s) have no test frame in {datasets_dir}: {missing[:3]}", file=sys.stderr
            )
    weights = _act_weights(args, ds, model_path)
    if weights is not None:
        act = weights.load(args.device)
        if not queries:
            raise ValueError("--act needs the query images: it is for Cambridge scenes")
        transforms = {n: _act_transform(act, p, weights.legacy_layout) for n, p in queries.items()}
    return poses, cameras, model_path, out, transforms


def _act_transform(act, image_path: Path, legacy_layout: bool) -> Callable:
    """The ACT colour transform chosen by a query image; for an image that cannot be read, one that fails with
    the image's message, so that its view is reported as failed and the others are rendered."""
    from ..data.frame import DatasetError
    from ..data.images import load_rgb

    try:
        return act.transform_for(load_rgb(image_path), legacy_layout)
    except DatasetError as e:
        message = f"no ACT colour transform: {e}"

    def unusable(rgb):
        raise DatasetError(message)

    return unusable


def _act_weights(args: argparse.Namespace, ds, model_path: Path) -> ActWeights | None:
    """``--act``, or for a dataset the original colours with ACT the weights found for the scene (said on
    stderr either way), or None."""
    if args.act is not None:
        return ActWeights(args.act, args.legacy_act_layout)
    if not ds.uses_act or args.no_act:
        return None
    weights = find_act_weights(args.root, args.scene, model_path)
    if weights is None:
        print(f"no ACT weights ({Path(model_path) / ACT_FILE} or {released_act_path(args.root, args.scene)}): "
              f"rendering {args.scene} without ACT", file=sys.stderr)  # fmt: skip
    else:
        print(f"{args.scene}: renders made now are coloured with {weights.describe()}", file=sys.stderr)
    return weights


def claims(args: argparse.Namespace) -> bool:
    """Whether a ``gscpr render`` command line is this mode's (``--dataset`` given)."""
    return bool(args.dataset)


def render_defaults() -> dict:
    """The original's render settings, where ``gscpr render --dataset`` is not told otherwise: the ``paper``
    recipe's rasterizer (near plane 0.2, alpha cap 0.99, depth epsilon 1e-6: the Inria rasterizer of the
    original's ``ACT_Scaffold_GS``) and JPEG quality 75 (``torchvision.utils.save_image`` -> PIL's default:
    12-Scenes' ``.jpg`` renders)."""
    from ..recipes import RECIPES

    return {**RECIPES["paper"].render_options(), "jpeg_quality": 75}


def run(args: argparse.Namespace) -> int:
    """``gscpr render --dataset ...``: :func:`gscpr.render_poses.run` on what :func:`setup` reads, with the
    original's render settings (:func:`render_defaults`)."""
    from ..render_poses import run as render_command

    return render_command(args, inputs=setup, defaults=render_defaults())
