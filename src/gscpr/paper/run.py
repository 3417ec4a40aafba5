"""The paper's refinement scripts (``gs_cpr_7s.py``, ``gs_cpr_12s.py``, ``gs_cpr_cam.py`` and the ``_rel``
variants) on the original's folder layout, run from the GS-CPR root:

    datasets/pgt_7scenes_<scene>/test/{rgb,poses,calibration}       queries and ground truth (ACE layout)
    datasets/Cambridge_<Scene>/...                                   (+ the full-resolution seqN/frameM.png)
    coarse_poses/<estimator>/<7Scenes_pgt|12Scenes_pgt|Cambridge>/    coarse poses
    ACT_Scaffold_GS/data/<dataset>/scene_<scene>/test/evaluate_<pe>/train_output/render_single_view/
                                                                     renders at the coarse poses, under the names
                                                                     the original's render scripts (and gscpr render)
                                                                     give them (PaperDataset.render_names)
    ACT_Scaffold_GS/data/<dataset>/scene_<scene>/train/output         the scene model, used when a render is missing
    ACT_Scaffold_GS/logs/paper_models/<Scene>/030000.tar, or act.pt   Cambridge: ACT for renders made on the fly
    in the model folder                                              (find_act_weights)

and write what the original writes: ``outputs/<dataset>/GS_CPR_<pe>_results/refine_predictions/
<pe>_refinew2c_mast3r_<scene>.txt`` and ``logs_<scene>.log`` (one per scene, also with ``--test_all``; the names
are ``gscpr.paper.naming``'s). The defaults reproduce the paper (MASt3R, OpenCV EPnP-RANSAC at 1 px / 2.5 px, no
sub-pixel step); the original's defects are fixed: per-image focal on Cambridge, RANSAC failure detected (the
coarse pose is kept and the status recorded), relative poses composed into the world frame. The ``_rel``
scripts write ``outputs/<dataset>/GS_CPR_rel_<pe>_results/`` (header ``GS-CPR_rel for <pe>:<scene>``); with
``--recipe paper`` and MASt3R their relative pose is the published one (``mast3r-pair``: MASt3R's pairwise
pointmaps, scaled by the rendered depth), with other matchers the essential matrix (``essential``); their
``--solver`` chooses that two-view solver (``essential``, ``mast3r-pair``) as the absolute scripts' chooses the PnP
solver. Renders missing
on disk are made on the fly (said once on stderr); each query's record says where its render came from, and a
rerun redoes the queries whose coarse pose, options, model, ACT weights or render file changed (``gscpr.records``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from pathlib import Path

from ..argtypes import ArgumentParser, default_device, device_arg, positive_int
from ..camera import Camera
from ..data.frame import DatasetError
from ..distributed import init_distributed
from ..evaluate import evaluate_scene, format_table, write_log
from ..match import MATCHERS, MatchError, load_matcher
from ..match.mast3r import DEFAULT_CHECKPOINT
from ..outputs import output_folder, run_command, write_json
from ..pipeline import refine_queries, write_outputs
from ..poses import PoseFileError, UnknownNameError, read_poses, write_poses
from ..queries import Query, RenderColor, build_queries
from ..recipes import add_refine_arguments, config_from_args, matcher_options, relative_solver_for
from ..records import file_identity, load_records, poses_from_records, tree_identity
from ..refine import RefineConfig, Status
from ..render_poses import POSE_INDEX, made_at_other_pose, read_pose_index
from ..splat.model import scene_background
from ..text import plural
from .datasets import (
    ACT_FILE,
    PaperDataset,
    find_act_weights,
    get_dataset,
    model_dir,
    released_act_path,
    render_dir,
)
from .naming import log_file, records_dir, refined_file, results_dir

__all__ = ["SCRIPTS", "main", "script_name"]


def _parser(dataset: str, relative: bool) -> argparse.ArgumentParser:
    ds = get_dataset(dataset)
    p = ArgumentParser(description=f"GS-CPR{'_rel' if relative else ''} on {dataset} (gscpr)")
    default_pe = "dfnet" if relative else "ace"
    p.add_argument("--pose_estimator", default=default_pe, choices=ds.estimators)
    p.add_argument("--scene", default=ds.scenes[1] if dataset == "cambridge" else ds.scenes[0], choices=ds.scenes)
    p.add_argument("--test_all", action="store_true", help="every scene of the dataset")
    p.add_argument("--matcher", default="mast3r", choices=MATCHERS, help="the paper's is mast3r")
    p.add_argument("--matcher_checkpoint", default=DEFAULT_CHECKPOINT,
                   help="MASt3R model: a name in the local Hugging Face cache (the original's, by default) or a "
                   ".pth file")  # fmt: skip
    # The recipe (default: the paper's, exactly) and the options the original's scripts take, --snake_case. The
    # _rel scripts' --solver is GS-CPR_rel's two-view solver (the absolute scripts': the PnP solver).
    solver = "relative_solver" if relative else "solver"
    add_refine_arguments(p, recipe="paper", style="_", options=(solver, "ransac_px", "subpixel", "recovery",
                         "iterations"), flags={"relative_solver": ("--solver",)})  # fmt: skip
    p.add_argument("--workers", type=positive_int, default=1, help="queries refined at once in threads (PnP overlaps)")
    p.add_argument("--root", type=Path, default=Path("."), help="the GS-CPR working directory")
    p.add_argument("--device", type=device_arg, default=default_device(), help="cpu, cuda or cuda:N")
    p.add_argument("--legacy_focal", action="store_true", help="Cambridge: the original's focal x 2.25")
    one_focal = "Cambridge: every query lifted and solved with the last one's focal (gs_cpr_cam.py)"
    p.add_argument("--legacy_one_focal", action="store_true", help=one_focal)
    return p


def _queries(
    ds, scene: str, pe: str, root: Path, legacy_focal: bool, legacy_one_focal: bool = False
) -> tuple[list[Query], dict, set[str]]:
    """Queries of one scene, with ground truth and the renders on disk where they exist; ``(queries, {coarse name:
    w2c} of the coarse poses with no test frame, names of the queries whose render on disk was made at another
    pose (not taken))``.

    The frames come from the original's folders with its per-scene intrinsics; queries are named by the
    dataset's image names and take the renders on disk where they exist (``PaperDataset.render_files``: the
    original's render names, then the coarse pose file's).
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

    query_name: dict[str, str] = {}  # coarse name -> query name

    def out_name(name: str, f) -> str:  # the original names its outputs by the dataset's image names
        query_name[name] = f.meta.get("original_name", f.name) if ds.name == "cambridge" else f.name
        return query_name[name]

    index, stale = read_pose_index(renders), []  # the poses gscpr render made its renders at

    def on_disk(name: str) -> tuple[Path, Path] | None:  # the original's render names, then gscpr's
        files = ds.render_files(renders, name)
        if files is not None and made_at_other_pose(index, files[0].relative_to(renders).as_posix(), coarse[name]):
            stale.append(name)  # made at an earlier coarse pose: taking it would lift the wrong view
            return None
        return files

    queries, missing = build_queries(frames, coarse, ds.name_scheme, out_name, on_disk)
    if not queries:
        example = f"e.g. {next(iter(coarse), '')!r}; images like {frames[0].name if frames else '-'!r}"
        raise DatasetError(f"none of the {plural(len(coarse), 'coarse pose')} of {pe} names a test image of "
                           f"{scene_dir} ({example})")  # fmt: skip
    return queries, {n: coarse[n] for n in missing}, {query_name[n] for n in stale if n in query_name}


def refine_config(args: argparse.Namespace, ds: PaperDataset, relative: bool) -> RefineConfig:
    """The refinement options of a paper script's parsed ``args`` on the dataset ``ds``: the recipe, then the options
    given. The paper recipe's threshold is the dataset's (1 px at 640x480 and 1296x968, 2.5 px at 1920x1080), any
    other recipe's its own; the recipe picks GS-CPR_rel's solver for the matcher (paper + mast3r: MASt3R's
    pointmaps, as published)."""
    return config_from_args(
        args,
        relative=relative,
        ransac_px=ds.ransac_px if args.ransac_px is None and args.recipe == "paper" else None,
        relative_solver=relative_solver_for(args.recipe, args.matcher)
        if relative and getattr(args, "relative_solver", None) is None
        else None,
    )


def _renderer(ds, scene: str, pe: str, root: Path, queries: list[Query], model_path: Path, cfg, device, say: bool,
              stale: set[str] = frozenset()):  # fmt: skip
    """The scene model where some query renders (no render on disk, further iterations or recovery), else None;
    on Cambridge, renders made on the fly take each query's ACT colour transform (``find_act_weights``) when
    weights exist (set on the queries). ``say``: tell stderr once when renders are made on the fly, from which
    model and with which ACT, or why not, counting apart the renders not on disk and those on disk made at
    another pose (``stale``: query names; :data:`~gscpr.render_poses.POSE_INDEX`), which are not taken."""
    missing = [q for q in queries if q.render_files is None]
    if not missing and cfg.iterations == 1 and not cfg.recovery:
        return None
    from ..splat.model import load_scene_model

    model = load_scene_model(model_path, device) if model_path.exists() else None
    act = find_act_weights(root, scene, model_path) if ds.uses_act and model is not None else None
    if act is not None:
        module = act.load(device)
        color = RenderColor(lambda image: module.transform_for(image, act.legacy_layout), act.describe(),
                            file_identity(act.path))  # fmt: skip
        for q in queries:
            q.render_color = color
    if say and missing:
        where = render_dir(root, ds.name, scene, pe)
        absent = [q for q in missing if q.name not in stale]
        moved = [q.name for q in missing if q.name in stale]
        parts = []
        if absent:
            looked = " or ".join(ds.render_names(absent[0].name))
            parts.append(f"{len(absent)} of {plural(len(queries), 'render')} not in {where} (e.g. no {looked} + .npy)")
        if moved:  # on disk but not taken: said as such, not as missing (gscpr render --dataset redoes them)
            parts.append(f"{len(moved)} of {plural(len(queries), 'render')} in {'it' if absent else where} made at "
                         f"another pose than the coarse pose now given (e.g. {moved[0]}; {POSE_INDEX}), "
                         "not taken")  # fmt: skip
        head = f"{scene}: {' and '.join(parts)}"
        if model is None:
            why = f"and no model at {model_path}: those queries fail (render_failed)"
        elif not ds.uses_act:
            why = f"rendering them on the fly from {model_path}"
        elif act is not None:
            why = f"rendering them on the fly from {model_path} with {act.describe()}"
        else:
            why = (f"rendering them on the fly from {model_path} WITHOUT ACT (no {model_path / ACT_FILE} or "
                   f"{released_act_path(root, scene)})")  # fmt: skip
        print(f"warning: {head}; {why}", file=sys.stderr)
    if say and model is None and (cfg.iterations > 1 or cfg.recovery):
        wanted = f"--iterations {cfg.iterations}" if cfg.iterations > 1 else "recovery renders"
        print(f"warning: {scene}: {wanted} render at refined poses, but there is no model at {model_path}: "
              "each query stops after its first pass", file=sys.stderr)  # fmt: skip
    return model


#: The original's script of each dataset (``gs_cpr_<x>.py``; the ``_rel`` variants add ``_rel``).
SCRIPTS = {"7scenes": "gs_cpr_7s", "12scenes": "gs_cpr_12s", "cambridge": "gs_cpr_cam"}


def script_name(dataset: str, relative: bool = False) -> str:
    """The file name of the paper script that runs ``dataset`` (a ``DATASETS`` key): ``gs_cpr_7s.py``,
    ``gs_cpr_cam_rel.py``, ..., as recorded in each scene's ``config.json``."""
    return f"{SCRIPTS[dataset]}{'_rel' if relative else ''}.py"


def main(dataset: str, relative: bool = False, argv: list[str] | None = None) -> int:
    """The command line of ``gs_cpr_<dataset>[_rel].py`` (``dataset``: a ``gscpr.paper.DATASETS`` key); returns
    the exit status: 0, or 2 when an option, the matcher or a scene's inputs cannot be used (also when no coarse
    pose of a scene names one of its test images), when no query of any scene was refined (the outputs are written
    all the same, with the coarse poses kept) or when the output folder cannot be written (or another run holds
    it), 130 on Ctrl-C (:func:`gscpr.outputs.run_command`)."""
    return run_command(lambda: _main(dataset, relative, argv))


def _main(dataset: str, relative: bool, argv: list[str] | None) -> int:
    args = _parser(dataset, relative).parse_args(argv)
    ds = get_dataset(dataset)
    if ds.name != "cambridge" and (args.legacy_focal or args.legacy_one_focal):
        print(f"error: --legacy_focal and --legacy_one_focal are Cambridge switches; {ds.name} has one focal per "
              "scene", file=sys.stderr)  # fmt: skip
        return 2
    scenes = ds.scenes if args.test_all else [args.scene]
    pe = args.pose_estimator
    out_dir = results_dir(args.root / "outputs", ds.name, pe, relative=relative)  # never the absolute run's
    try:
        cfg = refine_config(args, ds, relative)
    except ValueError as e:  # options that contradict each other
        print(f"error: {e}", file=sys.stderr)
        return 2
    dist = init_distributed(args.device)  # under torchrun: this rank's share of every scene, merged by rank 0
    # The output folder is checked writable and locked (by rank 0, for the whole job) before any work.
    records = lambda: sum(len(load_records(records_dir(out_dir, s))) for s in scenes)  # noqa: E731
    with output_folder(out_dir, count=records, lock=dist.is_main):
        return _refine_scenes(args, ds, dataset, relative, scenes, out_dir, cfg, dist)


def _refine_scenes(args, ds: PaperDataset, dataset: str, relative: bool, scenes: list[str], out_dir: Path,
                   cfg: RefineConfig, dist) -> int:  # fmt: skip
    """Refine ``scenes`` into ``out_dir`` (held by the caller) and write the original's outputs; the exit status."""
    pe = args.pose_estimator
    device = dist.device(args.device)
    try:
        given = {"checkpoint": args.matcher_checkpoint} if args.matcher == "mast3r" else {}
        options = matcher_options(args.recipe, args.matcher, cfg, given)
        matcher = load_matcher(args.matcher, device, **options)
    except MatchError as e:
        print(f"error: {e} (any other matcher runs without extra installs, e.g. --matcher xfeat)", file=sys.stderr)
        return 2
    initial, refined = [], []
    n_queries = n_refined = 0
    bad: list[tuple[str, str, str]] = []  # queries whose inputs could not be used: said after the table
    scene_queries = {}
    for scene in scenes:  # every scene's inputs read before any is refined: a missing one stops the run at once
        try:
            scene_queries[scene] = _queries(ds, scene, pe, args.root, args.legacy_focal, args.legacy_one_focal)
        except (DatasetError, PoseFileError, UnknownNameError, FileNotFoundError) as e:
            print(f"error: {scene}: {e}", file=sys.stderr)
            return 2
    for scene in scenes:
        queries, unmatched, stale = scene_queries[scene]
        model_path = model_dir(args.root, ds.name, scene)
        try:
            model = _renderer(ds, scene, pe, args.root, queries, model_path, cfg, device, dist.is_main, stale)
            # The background the model was trained on (its cfg_args), for renders and RGBA queries alike.
            bg = cfg.background or scene_background(model, model_path) or (0.0, 0.0, 0.0)
        except (ValueError, OSError) as e:  # a model or ACT file that cannot be read (the format errors included)
            print(f"error: {scene}: {e}", file=sys.stderr)
            return 2
        scene_cfg = replace(cfg, background=bg)
        rec_dir = records_dir(out_dir, scene)
        records = refine_queries(model, queries, matcher, scene_cfg, rec_dir, dist=dist, workers=args.workers,
                                 options={"matcher": args.matcher, "matcher_options": options},
                                 model_id=tree_identity(model_path) if model is not None else None)  # fmt: skip
        if not dist.is_main:
            continue
        write_outputs(rec_dir, queries, records, scene, unmatched)
        # What made these results (the refined-pose file's name says "mast3r" whatever the matcher, as the original's).
        settings = {"script": script_name(ds.name, relative), "scene": scene, "pose_estimator": pe,
                    "matcher": args.matcher, "matcher_options": {k: str(v) for k, v in options.items()},
                    "recipe": args.recipe, "refine": asdict(scene_cfg),
                    "model": str(model_path) if model is not None else None}  # fmt: skip
        write_json(rec_dir / "config.json", settings)
        poses = poses_from_records(records, [q.name for q in queries])
        write_poses(refined_file(out_dir, pe, scene), {**poses, **unmatched})
        gt = {q.name: q.gt for q in queries if q.gt is not None}
        ini = evaluate_scene({q.name: q.coarse for q in queries}, gt, scene, pe, scheme="exact")
        ref = evaluate_scene(poses, gt, scene, pe, scheme="exact")
        write_log(log_file(out_dir, scene), scene, pe, ini, ref, method="GS-CPR_rel" if relative else "GS-CPR")
        initial.append(ini)
        refined.append(ref)
        n_refined += sum(records[q.name]["status"] == Status.REFINED.value for q in queries if q.name in records)
        n_queries += len(queries)
        bad += [(scene, q.name, records[q.name].get("message", "")) for q in queries
                if records.get(q.name, {}).get("status") == Status.BAD_INPUT.value]  # fmt: skip
    if not dist.is_main:
        return 0
    print(format_table(initial, refined, f"GS-CPR{'_rel' if relative else ''} {dataset} · {pe}"))
    for scene, name, why in bad[:10]:  # the coarse pose kept; each one's reason is in its record too
        print(f"warning: {scene}: {name}: bad input, coarse pose kept: {why}", file=sys.stderr)
    if len(bad) > 10:
        print(
            f"warning: {len(bad)} queries had bad input in all (their reasons: the scenes' results.jsonl)",
            file=sys.stderr,
        )
    if not n_refined:  # the outputs are written (the coarse poses kept), but nothing was refined: a failed run
        print(f"error: none of the {plural(n_queries, 'query')} was refined; the coarse poses are kept in {out_dir}, "
              "each query's reason is in refine_predictions/<scene>/results.jsonl", file=sys.stderr)  # fmt: skip
        return 2
    return 0
