"""Generated scenes and query sets, exact by construction: used by the tests and the benchmarks.

All poses are world-to-camera 4x4 float64 in OpenCV axes (see ``geometry.py``); lengths are in scene units (the
room is 4 units wide, so think of metres).

* :func:`textured_room` – a 3DGS model (:class:`~gscpr.splat.Gaussians`, SH degree 0): six walls of a cube of half
  side ``half`` around the origin, each tiled with ``n_side^2`` flat splats (0.002 thick, 0.7 x the grid spacing
  wide, opacity 0.95) coloured with white noise plus a smooth pattern: ``6 n_side^2`` Gaussians, texture
  everywhere a matcher looks. With ``period``, the four walls along x repeat their texture with that period along
  x: a repeated texture, where a pose one period off sees what the right one sees.
* :func:`pose_inside` – a random pose ``[4, 4]`` with the camera centre uniform in ``[-spread, spread]^3`` (inside
  the room) and a uniformly random orientation.
* :func:`look_at_origin` – a random pose ``[4, 4]`` at ``distance`` from the origin, looking at it (its optical
  axis passes through the origin), random roll: NeRF-synthetic-like orbit views.
* :func:`write_blender_views` – renders a model at given poses into a Blender (NeRF-synthetic) folder that
  ``gscpr.data.load_blender`` reads back exactly (``transforms_<split>.json`` + 8-bit images).
* :func:`write_blender_scene` – a Blender folder with train and test views of a model at orbit poses on white.
* :func:`write_room_queries` – the room as ``scene.ply`` plus views from inside it as a Blender folder: a query set
  with exact ground truth for ``gscpr refine`` / ``gscpr bench``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .geometry import make_pose, qvec_to_rotmat
from .splat import Gaussians

__all__ = [
    "look_at_origin",
    "mirrored_x",
    "pose_inside",
    "textured_room",
    "write_blender_scene",
    "write_blender_views",
    "write_room_queries",
]


def textured_room(n_side: int = 60, half: float = 2.0, seed: int = 0, period: float | None = None) -> Gaussians:
    """Six walls of ``n_side^2`` flat splats each (white-noise colours plus a smooth pattern) around the origin.

    With ``period`` (scene units), the four walls along x (at ``y = +-half`` and ``z = +-half``) repeat their
    texture with that period along x (noise and pattern alike: a wall seen from ``period`` further along x looks
    the same), the two end walls (``x = +-half``) keep their own: a repeated texture, the case where a pose one
    period off matches as well as the right one. ``period`` must be a whole number of grid spacings
    (``2 half / n_side``); raises ``ValueError`` otherwise."""
    rng = np.random.default_rng(seed)
    spacing = 2 * half / n_side
    repeat = n_side
    if period is not None:
        repeat = round(period / spacing)
        if not (1 <= repeat <= n_side and abs(repeat * spacing - period) < 1e-9 * max(period, 1.0)):
            raise ValueError(f"period {period} is not a whole number (1 to {n_side}) of grid spacings {spacing:g}")
    u = (np.arange(n_side) + 0.5) * spacing - half
    uu, vv = (a.ravel() for a in np.meshgrid(u, u))
    iu, iv = (a.ravel() for a in np.meshgrid(np.arange(n_side), np.arange(n_side)))
    means, scales, colors = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            p = np.zeros((len(uu), 3))
            a, b = [i for i in range(3) if i != axis]
            p[:, a], p[:, b], p[:, axis] = uu, vv, sign * half
            s = np.full((len(uu), 3), 0.7 * spacing)
            s[:, axis] = 0.002  # flat, lying on the wall
            noise = rng.uniform(size=(n_side, n_side, 3))
            if period is not None and axis != 0:  # u runs along x on these walls: the colours of column u mod P
                smooth = 0.5 + 0.5 * np.sin(2 * np.pi * uu[:, None] / period + vv[:, None] * 2 + np.arange(3))
                noise = noise[iv, iu % repeat]
            else:
                smooth = 0.5 + 0.5 * np.sin(uu[:, None] * 3 + vv[:, None] * 2 + np.arange(3))
                noise = noise[iv, iu]
            means.append(p)
            scales.append(s)
            colors.append(0.6 * noise + 0.4 * smooth)
    g = Gaussians.from_points(np.concatenate(means), np.concatenate(colors), 0.01, opacity=0.95, sh_degree=0)
    g.log_scales = torch.log(torch.tensor(np.concatenate(scales), dtype=torch.float32))
    return g


def pose_inside(rng: np.random.Generator, spread: float = 0.7) -> np.ndarray:
    """A random w2c pose with the camera near the centre of the room, looking anywhere."""
    R = qvec_to_rotmat(rng.normal(size=4))
    return make_pose(R, -R @ rng.uniform(-spread, spread, 3))


def look_at_origin(rng: np.random.Generator, distance: float = 3.0) -> np.ndarray:
    """A random w2c pose on a sphere of ``distance`` around the origin, looking at it."""
    R = qvec_to_rotmat(rng.normal(size=4))
    return make_pose(R, np.array([0.0, 0.0, distance]))


def write_blender_scene(root, model, n_train: int, n_test: int, width: int = 64, focal: float = 60.0, seed: int = 0):
    """A NeRF-synthetic-style folder (``transforms_{train,test}.json`` + PNGs) of ``model`` rendered from poses
    around the origin on a white background; returns ``{split: [w2c, ...]}``."""
    from .camera import Camera

    rng = np.random.default_rng(seed)
    cam = Camera.centered(width, width, focal)
    poses = {}
    for split, n in (("train", n_train), ("test", n_test)):
        poses[split] = [look_at_origin(rng) for _ in range(n)]
        write_blender_views(root, model, cam, poses[split], split, background=(1.0, 1.0, 1.0))
    return poses


def write_blender_views(
    root,
    model,
    camera,
    poses: list[np.ndarray],
    split: str = "test",
    background=(0.0, 0.0, 0.0),
    backend: str = "torch",
    ext: str = "png",
) -> list[str]:
    """Render ``model`` at ``poses`` into a Blender-format folder ``root`` (``transforms_<split>.json`` and
    ``<split>/r_<i>.<ext>``); returns the frame names as the Blender loader gives them."""
    import imageio.v3 as iio

    from .data.images import to_uint8
    from .geometry import opencv_w2c_to_opengl_c2w
    from .splat import render

    if not np.allclose([camera.fy, camera.cx, camera.cy], [camera.fx, (camera.width - 1) / 2, (camera.height - 1) / 2]):
        raise ValueError(f"{camera}: a Blender folder stores one field of view (square pixels, centred)")
    root = Path(root)
    (root / split).mkdir(parents=True, exist_ok=True)
    frames = []
    for i, pose in enumerate(poses):
        rgb = render(model, camera, pose, background=background, backend=backend).rgb[0].cpu().numpy()
        iio.imwrite(root / split / f"r_{i}.{ext}", to_uint8(rgb))
        path = f"./{split}/r_{i}" + ("" if ext == "png" else f".{ext}")  # Blender's own paths have no extension
        frames.append({"file_path": path, "transform_matrix": opencv_w2c_to_opengl_c2w(pose).tolist()})
    angle = 2 * np.arctan(camera.width / 2 / camera.fx)
    (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    return [f"{split}/r_{i}.{ext}" for i in range(len(poses))]


def write_room_queries(root, camera, n: int, seed: int) -> tuple[Gaussians, dict[str, np.ndarray]]:
    """The generated room saved as ``root/scene.ply`` and ``n`` views of it at random poses inside it in the
    Blender folder ``root/data``; returns the scene and ``{name: w2c}``."""
    from .splat import save_ply

    scene = textured_room()
    save_ply(Path(root) / "scene.ply", scene)
    rng = np.random.default_rng(seed)
    poses = [pose_inside(rng) for _ in range(n)]
    names = write_blender_views(Path(root) / "data", scene, camera, poses)
    return scene, dict(zip(names, poses, strict=True))


def mirrored_x(model: Gaussians) -> Gaussians:
    """``model`` mirrored in x: positions and rotations (``M R M`` with ``M = diag(-1, 1, 1)``: quaternion
    ``(w, x, y, z) -> (w, x, -y, -z)``), colours cut to SH degree 0, which a mirror leaves as they are. A scene
    that looks alike but is another one (a hard case for pose verification)."""
    q = model.quats.clone()
    q[:, 2:] = -q[:, 2:]
    means = model.means.clone()
    means[:, 0] = -means[:, 0]
    return replace(model.with_sh_degree(0), means=means, quats=q)
