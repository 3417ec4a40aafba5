"""``gscpr demo``: refine perturbed poses of the embedded scene on the CPU and print the before/after table.

The embedded scene is a 40,000-Gaussian 3DGS model of the NeRF-synthetic ``mic`` (CC-0, see
``assets/mic/SOURCE.md``) with eight of its test views at 400x400. Their ground-truth poses are perturbed by a
fixed rotation and translation in seeded random directions, refined by the same code as ``gscpr refine``
(render at the coarse pose, match with XFeat, lift with the rendered depth, PnP), and compared with the truth.
Everything is written to ``--out``: coarse and refined pose files, per-query JSON lines, match overlays and
``summary.md``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

from .evaluate import within
from .geometry import camera_center, perturb_pose, pose_errors
from .outputs import write_text
from .text import plural

__all__ = ["demo_scene_dir", "run_demo"]

WHITE = (1.0, 1.0, 1.0)


def demo_scene_dir() -> Path:
    """The embedded scene's folder (``mic.ply``, ``transforms_test.json``, ``test/``)."""
    return Path(str(resources.files("gscpr") / "assets" / "mic"))


def _table(errors: dict[str, np.ndarray], distance: float) -> str:
    """Median errors and success rates; translations in scene units and as a share of the camera distance."""
    head = "| poses | median rot ° | median trans | < 1° and 1 % of distance | < 5° and 5 % (GSFeatLoc) |"
    lines = [head, "|---|---|---|---|---|"]
    for label, e in errors.items():
        rot, trans = e[:, 0], e[:, 1] / distance
        rates = [100 * np.mean(within(rot, trans, r, t)) for r, t in ((1.0, 0.01), (5.0, 0.05))]
        lines.append(
            f"| {label} | {np.median(rot):.3f} | {np.median(e[:, 1]):.4f} | {rates[0]:.0f} % | {rates[1]:.0f} % |"
        )
    return "\n".join(lines)


def run_demo(
    out: str | Path = "gscpr_demo",
    rot_deg: float = 6.0,
    trans: float = 0.25,
    seed: int = 0,
    matcher: str = "xfeat",
    iterations: int = 2,
    device: str = "cpu",
    overlays: int = 8,
    progress: bool = True,
) -> dict:
    """Run the demo; returns ``{"before": errors [N, 2], "after": errors [N, 2], "records": {...}, "text": str}``."""
    from .data import load_blender
    from .match import load_matcher
    from .pipeline import refine_queries
    from .poses import write_poses
    from .queries import Query
    from .records import poses_from_records
    from .refine import RefineConfig
    from .splat import load_ply

    out = Path(out)
    cfg = RefineConfig(ransac_px=1.0, iterations=iterations, background=WHITE, seed=seed)  # refused before any file
    loaded = load_matcher(matcher, device)
    _fresh_folder(out)
    root = demo_scene_dir()
    model = load_ply(root / "mic.ply", device)
    frames = load_blender(root, "test")
    gts = np.stack([f.pose for f in frames])
    coarse = perturb_pose(gts, rot_deg, trans, frame="world", rng=seed)
    queries = [Query(f.name, f.image_path, f.camera, c, f.pose) for f, c in zip(frames, coarse, strict=True)]
    write_poses(out / "coarse_poses.txt", {q.name: q.coarse for q in queries})
    t0 = time.perf_counter()
    records = refine_queries(model, queries, loaded, cfg, out, overlays=overlays,
                             progress=progress)  # fmt: skip
    seconds = time.perf_counter() - t0
    refined = poses_from_records(records, [q.name for q in queries])
    write_poses(out / "refined_poses.txt", refined)
    before = np.array([pose_errors(q.coarse, q.gt) for q in queries])
    after = np.array([pose_errors(refined[q.name], q.gt) for q in queries])
    distance = float(np.median(np.linalg.norm(camera_center(gts), axis=1)))  # cameras look at the origin
    statuses = [records[q.name]["status"] for q in queries]
    text = "\n\n".join(
        [
            f"gscpr demo: {plural(len(queries), 'view')} of the mic scene ({len(model)} Gaussians, 400x400), "
            f"coarse poses {rot_deg}° and {trans} units (camera distance {distance:.2f}) off the truth, seed {seed}; "
            f"{matcher} + PoseLib, {plural(iterations, 'iteration')} on the {device.upper()}",
            _table({"coarse": before, "refined": after}, distance),
            f"{statuses.count('refined')} of {len(queries)} refined in {seconds:.1f} s; "
            f"overlays, poses and per-query records in {out}/",
        ]
    )
    write_text(out / "summary.md", text + "\n")
    return {"before": before, "after": after, "records": records, "text": text}


MARKER = ".gscpr_demo"  # written in every demo folder: only such a folder is ever replaced


def _fresh_folder(out: Path) -> None:
    """An empty ``out``: a demo starts fresh (``gscpr refine`` is the command that resumes). Replaces only a folder
    an earlier demo wrote (it holds :data:`MARKER`) or an empty one; raises ``FileExistsError`` for anything else."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()):
        summary = out / "summary.md"  # demos before the marker: their summary is the signature
        earlier = summary.is_file() and summary.read_text(encoding="utf-8", errors="replace").startswith("gscpr demo:")
        if not (out / MARKER).is_file() and not earlier:
            raise FileExistsError(f"{out} holds files that no gscpr demo wrote: choose another --out (nothing removed)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / MARKER, "written by gscpr demo; the next demo run with this --out replaces this folder\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("gscpr_demo"), help="output folder (an earlier demo's is replaced, no other)"
    )
    from .argtypes import device_arg, nonnegative_float, nonnegative_int, positive_int
    from .match import MATCHERS

    parser.add_argument("--rot", type=nonnegative_float, default=6.0, help="coarse rotation error, degrees")
    parser.add_argument("--trans", type=nonnegative_float, default=0.25, help="coarse translation error, scene units")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--matcher", default="xfeat", choices=list(MATCHERS))
    parser.add_argument("--iterations", type=positive_int, default=2)
    parser.add_argument("--device", type=device_arg, default="cpu", help="cpu (default: runs anywhere), cuda or cuda:N")


def run(args: argparse.Namespace) -> int:
    from .match import MatchError

    try:
        result = run_demo(args.out, args.rot, args.trans, args.seed, args.matcher, args.iterations, args.device)
    except (MatchError, ValueError, FileExistsError) as e:  # other OS errors: gscpr.outputs.run_command's line
        print(f"gscpr demo: error: {e}", file=sys.stderr)
        return 2
    print(result["text"])
    return 0
