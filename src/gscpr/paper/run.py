"""The paper's refinement scripts (``gs_cpr_7s.py``, ``gs_cpr_12s.py``, ``gs_cpr_cam.py`` and the ``_rel``
variants) on the original's folder layout, run from the GS-CPR root:

    datasets/pgt_7scenes_<scene>/test/{rgb,poses,calibration}       queries and ground truth (ACE layout)
    datasets/Cambridge_<Scene>/...                                   (+ the full-resolution seqN/frameM.png)
    coarse_poses/<estimator>/<7Scenes_pgt|12Scenes_pgt|Cambridge>/    coarse poses
    ACT_Scaffold_GS/data/<dataset>/scene_<scene>/test/evaluate_<pe>/train_output/render_single_view/
                                                                     renders at the coarse poses (gscpr render)
    ACT_Scaffold_GS/data/<dataset>/scene_<scene>/train/output         the scene model, used when a render is missing

and write what the original writes: ``outputs/<dataset>/GS_CPR_<pe>_results/refine_predictions/
<pe>_refinew2c_mast3r_<scene>.txt`` and ``logs_<scene>.log`` (one per scene, also with ``--test_all``; the names
are ``gscpr.paper.naming``'s). The defaults reproduce the paper (MASt3R, OpenCV EPnP-RANSAC at 1 px / 2.5 px, no
sub-pixel step); the original's defects are fixed: per-image focal on Cambridge, RANSAC failure detected (the
coarse pose is kept and the status recorded), relative poses composed into the world frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..camera import Camera
from ..data.frame import DatasetError
from ..distributed import init_distributed
from ..evaluate import evaluate_scene, format_table, write_log
from ..match import MATCHERS, MatchError, load_matcher
from ..pipeline import refine_queries, write_outputs
from ..poses import PoseFileError, read_poses, write_poses
from ..queries import Query, build_queries
from ..recipes import add_refine_arguments, config_from_args
from ..records import poses_from_records
from ..render_poses import depth_path
from .datasets import get_dataset, model_dir, render_dir
from .naming import log_file, records_dir, refined_file, results_dir

__all__ = ["main"]

DEFAULT_CHECKPOINT = "checkpoints/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric.pth"


def _parser(dataset: str, relative: bool) -> argparse.ArgumentParser:
    ds = get_dataset(dataset)
    p = argparse.ArgumentParser(description=f"GS-CPR{'_rel' if relative else ''} on {dataset} (gscpr)")
    default_pe = "dfnet" if relative else "ace"
    p.add_argument("--pose_estimator", default=default_pe, choices=ds.estimators)
    p.add_argument("--scene", default=ds.scenes[1] if dataset == "cambridge" else ds.scenes[0], choices=ds.scenes)
    p.add_argument("--test_all", action="store_true", help="every scene of the dataset")
    p.add_argument("--matcher", default="mast3r", choices=MATCHERS, help="the paper's is mast3r")
    p.add_argument("--matcher_checkpoint", default=DEFAULT_CHECKPOINT, help="MASt3R checkpoint (.pth)")
    # The recipe (default: the paper's, exactly) and the options the original's scripts take, --snake_case.
    add_refine_arguments(p, recipe="paper", style="_", options=("solver", "ransac_px", "subpixel", "recovery",
                                                                 "iterations"))  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="queries refined at once in threads (PnP overlaps)")
    p.add_argument("--root", type=Path, default=Path("."), help="the GS-CPR working directory")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--legacy_focal", action="store_true", help="Cambridge: the original's focal x 2.25")
    one_focal = "Cambridge: every query lifted and solved with the last one's focal (gs_cpr_cam.py)"
    p.add_argument("--legacy_one_focal", action="store_true", help=one_focal)
    return p


def _queries(
    ds, scene: str, pe: str, root: Path, legacy_focal: bool, legacy_one_focal: bool = False
) -> tuple[list[Query], dict]:
    """Queries of one scene, with ground truth and the renders on disk where they exist; ``(queries, {coarse name:
    w2c} of the coarse poses with no test frame)``.

    The frames come from the original's folders with its per-scene intrinsics; queries are named by the
    dataset's image names and take the renders on disk (``gscpr render``'s layout) where they exist.
    """
    from ..data.ace import read_ace_split
    from ..data.cambridge import load_cambridge

    scene_dir = ds.scene_dir(root / "datasets", scene)
    if ds.name == "cambridge":
        frames = load_cambridge(scene_dir, "test", legacy_focal=legacy_focal, legacy_one_focal=legacy_one_focal)
    else:
        frames = read_ace_split(scene_dir, "test")
        cam = Camera.centered(*ds.render_size, ds.focal[scene])  # the original's per-scene focal
        for f in frames:
            f.camera = cam
    coarse = read_poses(ds.coarse_pose_file(root / "coarse_poses", pe, scene))
    renders = render_dir(root, ds.name, scene, pe)

    def on_disk(name: str) -> tuple[Path, Path] | None:
        files = (renders / name, depth_path(renders, name))
        return files if all(p.is_file() for p in files) else None

    def out_name(name: str, f) -> str:  # the original names its outputs by the dataset's image names
        return f.meta.get("original_name", f.name) if ds.name == "cambridge" else f.name

    queries, missing = build_queries(frames, coarse, ds.name_scheme, out_name, on_disk)
    return queries, {n: coarse[n] for n in missing}


def main(dataset: str, relative: bool = False, argv: list[str] | None = None) -> int:
    """The command line of ``gs_cpr_<dataset>[_rel].py`` (``dataset``: a ``gscpr.paper.DATASETS`` key); returns
    the exit status: 0, or 2 when the matcher cannot load or a scene's inputs cannot be read."""
    args = _parser(dataset, relative).parse_args(argv)
    ds = get_dataset(dataset)
    scenes = ds.scenes if args.test_all else [args.scene]
    pe = args.pose_estimator
    out_dir = results_dir(args.root / "outputs", ds.name, pe)
    # The threshold is the dataset's (1 px at 640x480 and 1296x968, 2.5 px at 1920x1080) unless given.
    cfg = config_from_args(args, relative=relative, ransac_px=args.ransac_px or ds.ransac_px)
    dist = init_distributed(args.device)  # under torchrun: this rank's share of every scene, merged by rank 0
    device = dist.device(args.device)
    try:
        options = {"checkpoint": args.matcher_checkpoint} if args.matcher == "mast3r" else {}
        matcher = load_matcher(args.matcher, device, **options)
    except MatchError as e:
        print(f"error: {e}\n(any other matcher runs without extra installs, e.g. --matcher xfeat)", file=sys.stderr)
        return 2
    initial, refined = [], []
    for scene in scenes:
        try:
            queries, unmatched = _queries(ds, scene, pe, args.root, args.legacy_focal, args.legacy_one_focal)
        except (DatasetError, PoseFileError, FileNotFoundError) as e:
            print(f"error: {scene}: {e}", file=sys.stderr)
            return 2
        model_path = model_dir(args.root, ds.name, scene)
        model = None
        if any(q.render_files is None for q in queries) or cfg.iterations > 1 or cfg.recovery:
            from ..splat.model import load_scene_model

            model = load_scene_model(model_path, device) if model_path.exists() else None
            if model is None and dist.is_main:
                print(f"warning: {scene}: no renders for some queries and no model at {model_path}", file=sys.stderr)
        rec_dir = records_dir(out_dir, scene)
        records = refine_queries(model, queries, matcher, cfg, rec_dir, dist=dist, workers=args.workers)
        if not dist.is_main:
            continue
        write_outputs(rec_dir, queries, records, scene, unmatched)
        poses = poses_from_records(records, [q.name for q in queries])
        write_poses(refined_file(out_dir, pe, scene), {**poses, **unmatched})
        gt = {q.name: q.gt for q in queries if q.gt is not None}
        ini = evaluate_scene({q.name: q.coarse for q in queries}, gt, scene, pe, scheme="exact")
        ref = evaluate_scene(poses, gt, scene, pe, scheme="exact")
        write_log(log_file(out_dir, scene), scene, pe, ini, ref)
        initial.append(ini)
        refined.append(ref)
    if dist.is_main:
        print(format_table(initial, refined, f"GS-CPR{'_rel' if relative else ''} {dataset} · {pe}"))
    return 0
