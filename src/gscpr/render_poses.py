"""``gscpr render``: render a scene model at every pose of a pose file (the original's
``script_render_pred_{7s,12s,cam}.sh``), writing RGB images and depth ``.npy`` files in the original's layout.

For each pose named ``<name>`` (names may contain ``/``) it writes ``<out>/<name>`` (RGB, 8 bit, format from
the extension) and ``<out>/<name without extension>.npy`` (float32 ``[H, W]`` alpha-normalised z-depth, 0 where
nothing renders). Finished views are skipped, so an interrupted run resumes; a bad pose is reported and
skipped, never the end of the run.

    gscpr render --dataset 7scenes --scene chess --estimator ace          # the paper's layout and intrinsics
    gscpr render --model scene.ply --poses poses.txt --intrinsics 525,525,319.5,239.5,640,480 --out renders/

The paper's datasets (``--dataset``, ``--scene``, ``--estimator``, ACT, the original's intrinsics and folders)
are ``gscpr.paper.render``'s, a mode of this command (``gscpr.cli.MODES``): this module never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .argtypes import (
    default_device,
    device_arg,
    finite_float,
    fraction,
    int_in,
    nonnegative_float,
    nonnegative_int,
    open_fraction,
    positive_float,
    positive_int,
)
from .camera import Camera
from .data.images import to_uint8
from .geometry import check_pose
from .outputs import atomic_path, output_folder, write_image, write_json
from .poses import PoseFileError, read_poses
from .splat.render import render

__all__ = [
    "JPEG_QUALITY",
    "POSE_INDEX",
    "RENDER_DEFAULTS",
    "RenderReport",
    "depth_path",
    "made_at_other_pose",
    "read_pose_index",
    "render_poses",
]


@dataclass
class RenderReport:
    """What a run did: rendered, skipped (already on disk) and failed views with the reason."""

    rendered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def depth_path(out_dir: Path, name: str) -> Path:
    """``<out>/<name>`` with its image extension replaced by ``.npy`` (the original's depth file name)."""
    p = out_dir / name
    return p.with_suffix(".npy")


#: The index ``gscpr render`` keeps in its output folder: ``{render name: w2c as 16 numbers, row-major}``, the pose
#: each render was made at, so that a render made at another pose than the one now asked for is never taken for it.
#: Renders made by other tools (the original's scripts) have no entry and are taken as they are.
POSE_INDEX = "render_poses.json"


def read_pose_index(out_dir: str | Path) -> dict[str, np.ndarray]:
    """``{render name: w2c [4, 4]}`` of :data:`POSE_INDEX` in ``out_dir``; empty when there is none or it cannot
    be read (then nothing can be checked, as for renders made by other tools)."""
    try:
        raw = json.loads((Path(out_dir) / POSE_INDEX).read_text(encoding="utf-8"))
        return {str(k): np.asarray(v, dtype=np.float64).reshape(4, 4) for k, v in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def made_at_other_pose(index: dict[str, np.ndarray], name: str, pose: np.ndarray, atol: float = 1e-6) -> bool:
    """Whether :data:`POSE_INDEX` says the render ``name`` was made at a pose other than ``pose`` (w2c)."""
    return name in index and not np.allclose(index[name], pose, atol=atol)


def _update_pose_index(out_dir: Path, index: dict[str, np.ndarray], poses: dict[str, np.ndarray]) -> None:
    """Write :data:`POSE_INDEX`: ``index`` (as read at the start) with ``poses`` added (atomically)."""
    if not poses:
        return
    index = {k: np.asarray(v, dtype=np.float64).reshape(-1).tolist() for k, v in {**index, **poses}.items()}
    write_json(out_dir / POSE_INDEX, index, indent=None)


#: JPEG quality of the renders of ``gscpr render`` (the paper mode writes the original's: PIL's default, 75).
JPEG_QUALITY = 95


def _write_rgb(path: Path, rgb: np.ndarray, jpeg_quality: int = JPEG_QUALITY) -> None:
    """Write RGB ``[H, W, 3]`` in [0, 1] as 8 bit, the format from the extension. JPEG at ``jpeg_quality`` with
    libjpeg's standard tables and 4:2:0 chroma: at 75 the bytes of PIL's default ``Image.save`` (what the
    original's ``torchvision.utils.save_image`` writes)."""
    img = to_uint8(rgb)  # rounding as torchvision's save_image
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    write_image(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)  # atomic: never a torn image to resume over


def _leaves(name: str) -> bool:
    """Whether the render file of ``name`` would lie outside the output folder: an absolute name (POSIX, or a
    Windows drive or ``\\`` root) or one with a ``..`` part."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or (name[:1].isalpha() and name[1:2] == ":") or ".." in parts


def render_poses(
    model,
    poses: dict[str, np.ndarray],
    cameras: dict[str, Camera] | Camera,
    out_dir: str | Path,
    *,
    color_transforms: dict[str, Callable] | None = None,
    background: Sequence[float] | None = None,
    backend: str = "auto",
    batch: int = 8,
    overwrite: bool = False,
    progress: bool = True,
    jpeg_quality: int = JPEG_QUALITY,
    render_options: dict | None = None,
) -> RenderReport:
    """Render ``model`` at ``poses`` (``{name: w2c}``) and write RGB + depth under ``out_dir``.

    ``cameras`` is one camera for all views or one per name; ``color_transforms`` optionally maps a name to a
    function applied to its rendered RGB ``[H, W, 3]`` (ACT). Views whose RGB and depth files exist are
    skipped unless ``overwrite`` or :data:`POSE_INDEX` says they were made at another pose; the pose of every
    view written is recorded there. ``background``: RGB in [0, 1]; None: the model's own (white for a Scaffold-GS
    model whose ``cfg_args`` says ``white_background=True``, else black); a background given here wins.
    ``jpeg_quality``: of ``.jpg`` names. ``render_options``: keyword arguments of
    :func:`gscpr.splat.render.render` (``near_plane``, ``alpha_cap``, ``depth_eps``; default: its own).
    """
    out_dir = Path(out_dir)
    report = RenderReport()
    todo = []
    index = read_pose_index(out_dir)
    for name, pose in poses.items():
        exists = (out_dir / name).is_file() and depth_path(out_dir, name).is_file()
        if not overwrite and exists and not made_at_other_pose(index, name, pose):
            report.skipped.append(name)
            continue
        try:
            check_pose(pose, what=f"pose of {name}")
            if _leaves(name):  # "/home/me/IMG_1.jpg" would overwrite the photo itself with its render
                raise ValueError(
                    f"{name}: an absolute or '..' name would write outside {out_dir} (a render is "
                    "written under its name there): name the view relative to its images"
                )
            if (out_dir / name).exists() and not depth_path(out_dir, name).is_file() and name not in index:
                raise ValueError(  # --out the query folder: the render would replace the photo of that name
                    f"{out_dir / name}: a file gscpr render did not write is there (no depth file beside it, not in "
                    f"{POSE_INDEX}); not overwritten: move it, or render into another --out"
                )
            if not cv2.haveImageWriter(name):  # checked before rendering: cv2.imwrite would raise cv2.error
                raise ValueError(f"{name}: no image format for this name's extension (use .png or .jpg)")
            cam = cameras if isinstance(cameras, Camera) else cameras[name]
        except (ValueError, KeyError) as e:
            report.failed[name] = f"no camera for this view ({e})" if isinstance(e, KeyError) else str(e)
            continue
        todo.append((name, pose, cam))
    # Views of one size render together; the model decides whether it can batch them.
    todo.sort(key=lambda v: v[2].size)
    bar = tqdm(total=len(todo), desc="rendering", unit="view", disable=not progress)
    flushed = time.monotonic()
    try:  # the index records every view written, also when the run is cut short
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            groups: dict[tuple[int, int], list] = {}
            for v in chunk:
                groups.setdefault(v[2].size, []).append(v)
            for views in groups.values():
                names = [v[0] for v in views]
                try:
                    with torch.inference_mode():
                        out = render(model, [v[2] for v in views], np.stack([v[1] for v in views]),
                                     background=background, backend=backend, **(render_options or {}))  # fmt: skip
                except (RuntimeError, ValueError) as e:
                    for n in names:
                        report.failed[n] = f"render failed: {e}"
                    continue
                for i, name in enumerate(names):
                    try:
                        rgb = out.rgb[i]
                        if color_transforms is not None and name in color_transforms:
                            rgb = color_transforms[name](rgb)
                        # Depth first: an RGB file with no depth beside it is never one of ours (see above).
                        with atomic_path(depth_path(out_dir, name)) as tmp:
                            np.save(tmp, out.depth[i].float().cpu().numpy())
                        _write_rgb(out_dir / name, rgb.float().cpu().numpy(), jpeg_quality)
                        report.rendered.append(name)
                    except (ValueError, RuntimeError) as e:  # an OS error (full disk) stops the run
                        report.failed[name] = str(e)
            bar.update(len(chunk))
            if time.monotonic() - flushed > 30:  # also a killed (SIGKILL) run's renders are known by their pose
                _update_pose_index(out_dir, index, {n: poses[n] for n in report.rendered})
                flushed = time.monotonic()
    finally:
        bar.close()
        _update_pose_index(out_dir, index, {n: poses[n] for n in report.rendered})
    return report


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    generic = parser.add_argument_group("any scene")
    generic.add_argument("--model", type=Path, help="a scene file (3DGS PLY, compressed PLY, .splat, .spz) or "
                         "a model folder (3DGS or Scaffold-GS)")  # fmt: skip
    generic.add_argument("--poses", type=Path, help="pose file (w2c, qt/pgt/ace format)")
    generic.add_argument(
        "--intrinsics",
        type=intrinsics_arg,
        metavar="FX,FY,CX,CY,W,H",
        help="pinhole camera in pixels (pixel-index convention: the first pixel's centre is 0,0)",
    )
    generic.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--iteration", type=nonnegative_int, help="model iteration (default: the latest)")
    parser.add_argument("--background", type=fraction, nargs=3, metavar=("R", "G", "B"),
                        help="RGB in [0, 1] (default: the model's cfg_args white_background, else black)")  # fmt: skip
    parser.add_argument("--backend", default="auto", choices=["auto", "gsplat", "torch"])
    parser.add_argument("--device", type=device_arg, default=default_device(), help="cpu, cuda or cuda:N")
    parser.add_argument("--batch", type=positive_int, default=8, help="views rendered in one call")
    parser.add_argument("--overwrite", action="store_true", help="render views that are already on disk")
    # Defaults None: the mode's (gsplat's 0.01 / 0.999 / none and quality 95; --dataset: the original's).
    parser.add_argument("--near-plane", type=nonnegative_float,
                        help="rasterizer near plane in scene units (0.01; --dataset: 0.2)")  # fmt: skip
    parser.add_argument("--alpha-cap", type=open_fraction,
                        help="largest alpha of one Gaussian (0.999; --dataset: 0.99)")  # fmt: skip
    parser.add_argument("--depth-eps", type=nonnegative_float,
                        help="depth = sum(z a T) / (sum(a T) + eps) (0; --dataset: 1e-6)")  # fmt: skip
    parser.add_argument("--jpeg-quality", type=int_in(0, 100),
                        help=f"of .jpg renders, 0-100 ({JPEG_QUALITY}; --dataset: 75, PIL's)")  # fmt: skip


#: ``inputs(args, bad_lines) -> (poses {name: w2c}, a camera or one per name, model path, output folder, colour
#: transforms per name or None)``: what a ``gscpr render`` command line asks to render.
RenderInputs = Callable[[argparse.Namespace, list], tuple]

#: The rasterizer options of ``gscpr render`` and their defaults where the command line leaves them out.
RENDER_DEFAULTS = {"near_plane": 0.01, "alpha_cap": 0.999, "depth_eps": 0.0, "jpeg_quality": JPEG_QUALITY}


def inputs_from_args(args: argparse.Namespace, bad_lines: list) -> tuple:
    """The generic mode's :data:`RenderInputs`: ``--model``, ``--poses``, ``--intrinsics``, ``--out``."""
    if not (args.model and args.poses and args.intrinsics and args.out):
        raise ValueError("give --dataset/--scene/--estimator, or --model, --poses, --intrinsics and --out")
    poses = read_poses(args.poses, on_error=bad_lines.append, warn=_warn)
    return poses, args.intrinsics, args.model, args.out, None


def intrinsics_arg(text: str) -> Camera:
    """The argparse type of ``--intrinsics``: ``fx,fy,cx,cy,width,height`` as a :class:`~gscpr.camera.Camera`
    (focal lengths > 0, a finite principal point, sizes >= 1 pixel)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 6:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 6 comma-separated numbers fx,fy,cx,cy,width,height")
    try:
        fx, fy = (positive_float(p) for p in parts[:2])
        cx, cy = (finite_float(p) for p in parts[2:4])
        w, h = (positive_int(p) for p in parts[4:])
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{text!r} (fx,fy,cx,cy,width,height): {e}") from None
    return Camera(w, h, fx, fy, cx, cy)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace, inputs: RenderInputs = inputs_from_args, defaults: dict | None = None) -> int:
    """``gscpr render``: what ``inputs`` reads from ``args`` rendered with :func:`render_poses`, failures reported
    (and written to ``render_failures.json``); 0, 1 when some view failed, 2 for unusable input. ``defaults``
    overrides :data:`RENDER_DEFAULTS` for the options the command line leaves out (the paper mode's)."""
    from .data.frame import DatasetError
    from .splat.gaussians import PlyFormatError
    from .splat.model import load_scene_model, scene_background
    from .splat.scaffold import ScaffoldFormatError

    bad_lines: list[PoseFileError] = []  # malformed pose lines: reported, the rest is rendered
    try:
        poses, cameras, model_path, out, transforms = inputs(args, bad_lines)
    except (PoseFileError, DatasetError, FileNotFoundError, ValueError) as e:
        print(f"gscpr render: error: {e}", file=sys.stderr)
        return 2
    # The folder is checked and locked before the model loads; Ctrl-C says how many renders it keeps.
    with output_folder(out, count=lambda: len(read_pose_index(out)), unit="renders"):
        try:
            model = load_scene_model(model_path, args.device, args.iteration, warn=_warn)
            # The background the model was trained on where its files say (cfg_args also in a 3DGS model folder).
            background = args.background if args.background is not None else scene_background(model, model_path)
        except (PlyFormatError, ScaffoldFormatError, FileNotFoundError, ValueError) as e:
            print(f"gscpr render: error: {e}", file=sys.stderr)
            return 2
        opts = {**RENDER_DEFAULTS, **(defaults or {})}
        opts.update({k: getattr(args, k) for k in opts if getattr(args, k, None) is not None})
        jpeg_quality = opts.pop("jpeg_quality")
        report = render_poses(model, poses, cameras, out, color_transforms=transforms, background=background,
                              backend=args.backend, batch=args.batch, overwrite=args.overwrite,
                              jpeg_quality=jpeg_quality, render_options=opts)  # fmt: skip
    for e in bad_lines:
        report.failed[f"{e.path.name}:{e.line}"] = str(e)
    print(f"{out}: rendered {len(report.rendered)}, already there {len(report.skipped)}, failed {len(report.failed)}")
    if report.failed:
        path = Path(out) / "render_failures.json"
        write_json(path, report.failed)
        for name, why in list(report.failed.items())[:10]:
            print(f"  failed {name}: {why}", file=sys.stderr)
        print(f"  (all failures in {path})", file=sys.stderr)
    return 0 if not report.failed else 1
