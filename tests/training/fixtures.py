"""Generated training scenes in the layouts the original's training scripts read."""

from pathlib import Path

import numpy as np

from gscpr.synthetic import textured_room


def write_colmap_scene(root: Path, n_views: int = 5, n_points: int = 60, width: int = 32, seed: int = 7) -> np.ndarray:
    """A COLMAP scene (``sparse/0`` text model, ``images/``) of the generated room, as GS-CPR's
    ``data/<dataset>/scene_<scene>/train`` folders are laid out; returns the SfM points ``[n_points, 3]``."""
    import pycolmap

    from gscpr.camera import Camera
    from gscpr.geometry import pose_to_qt
    from gscpr.synthetic import look_at_origin, write_blender_views

    room = textured_room(n_side=8, half=0.6, seed=seed)
    rng = np.random.default_rng(seed)
    cam, focal = Camera.centered(width, width, 30.0), 30.0
    poses = [look_at_origin(rng) for _ in range(n_views)]
    write_blender_views(root, room, cam, poses, split="images", background=(1.0, 1.0, 1.0))
    rec = pycolmap.Reconstruction()
    params = [focal, focal, width / 2, width / 2]  # COLMAP's continuous principal point
    rec.add_camera_with_trivial_rig(pycolmap.Camera(model="PINHOLE", width=width, height=width, params=params,
                                                    camera_id=1))  # fmt: skip
    for i, T in enumerate(poses):
        q, t = pose_to_qt(T)
        rigid = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([*q[1:], q[0]])), t)  # pycolmap: xyzw
        rec.add_image_with_trivial_frame(pycolmap.Image(name=f"r_{i}.png", camera_id=1, image_id=i + 1), rigid)
    xyz = room.means.numpy()[rng.choice(len(room.means), n_points, replace=False)].astype(np.float64)
    for p in xyz:
        rec.add_point3D(p, pycolmap.Track(), np.array([128, 128, 128], dtype=np.uint8))
    (root / "sparse" / "0").mkdir(parents=True)
    rec.write_text(str(root / "sparse" / "0"))
    return xyz
