"""A query set: each coarse pose paired with its image, camera and ground truth, read one query at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import Camera
from .data.frame import DatasetError, Frame
from .data.images import size_mismatch
from .poses import NameIndex, UnknownNameError, guess_name_scheme
from .refine.types import Render

__all__ = ["Query", "RenderColor", "build_queries", "load_query"]


@dataclass(frozen=True)
class RenderColor:
    """A colour transform of the renders made on the fly for a query, chosen by the query's image (GS-CPR's ACT
    on Cambridge, ``gscpr.splat.act``).

    Attributes:
        for_image: ``for_image(query RGB [H, W, 3]) -> (render RGB tensor [H, W, 3] in [0, 1] -> same)``.
        description: what it is, for the records (e.g. the ACT weights' path and channel layout).
        identity: JSON identity of its weights (``gscpr.records.file_identity``): a change redoes the queries.
    """

    for_image: Callable[[np.ndarray], Callable]
    description: str
    identity: dict | None = None


@dataclass
class Query:
    """One query: its name in the coarse pose file, its image and camera, the coarse w2c pose ``[4, 4]``, the
    ground truth if known, the render at its coarse pose if one is on disk ``(RGB image, depth .npy)``, and the
    colour transform of renders made on the fly, if any."""

    name: str
    image_path: Path
    camera: Camera
    coarse: np.ndarray
    gt: np.ndarray | None = None
    render_files: tuple[Path, Path] | None = None
    render_color: RenderColor | None = None

    def render_source(self) -> dict:
        """Where the render at the coarse pose comes from, as its record says: ``{"from": "file", "path": RGB
        path}`` or ``{"from": "on the fly", "color": description or None}``."""
        if self.render_files is not None:
            return {"from": "file", "path": str(self.render_files[0])}
        return {"from": "on the fly", "color": self.render_color.description if self.render_color else None}


def build_queries(
    frames: list[Frame],
    coarse: Mapping[str, np.ndarray],
    scheme: str = "auto",
    name_of: Callable[[str, Frame], str] | None = None,
    render_files: Callable[[str], tuple[Path, Path] | None] | None = None,
) -> tuple[list[Query], list[str]]:
    """Queries for the coarse poses (``{name: w2c}``) whose image is among ``frames``, and the names that are not.

    A name is matched to the frame of exactly that name first (a leading ``./`` aside), else under ``scheme``
    (``gscpr.poses``; ``auto`` guesses it from the frames). A query is named ``name_of(coarse_name, frame)``
    (default: the coarse pose file's name) and takes the render on disk that ``render_files(coarse_name)`` gives,
    if any. Raises :class:`~gscpr.poses.UnknownNameError` naming both where two coarse poses are one image, or
    where the scheme makes one name fit two images: two queries never silently become one.
    """
    scheme = guess_name_scheme([f.name for f in frames]) if scheme == "auto" else scheme
    index, frame_of = NameIndex([f.name for f in frames], scheme), {f.name: f for f in frames}
    queries, missing = [], []
    taken: dict[str, str] = {}  # frame name -> the coarse name that took it
    for name, pose in coarse.items():
        candidates = index.candidates(name)
        if len(candidates) > 1:
            raise UnknownNameError(
                f"coarse pose {name!r} is both {candidates[0]!r} and {candidates[1]!r} under the "
                f"{scheme} name scheme; name the image exactly as the dataset does"
            )
        f = frame_of[candidates[0]] if candidates else None
        if f is None:
            missing.append(name)
            continue
        if f.name in taken:
            raise UnknownNameError(
                f"coarse poses {taken[f.name]!r} and {name!r} are both image {f.name!r} (name scheme {scheme}); "
                "keep one of them"
            )
        taken[f.name] = name
        files = render_files(name) if render_files is not None else None
        queries.append(Query(name_of(name, f) if name_of else name, f.image_path, f.camera, pose, f.pose, files))
    return queries, missing


def load_query(q: Query, load_image: Callable[[Path], np.ndarray]) -> tuple[np.ndarray, Render | None]:
    """The query's image ``[H, W, 3]`` and its render on disk, if any (RGB and depth ``[H, W]``, ``[1, H, W]``
    accepted), each checked against the query's camera. Raises :class:`~gscpr.data.DatasetError` (wrong size, a
    depth file that is not a ``.npy`` array) or what ``load_image`` raises."""
    image = load_image(q.image_path)
    if image.shape[:2] != (q.camera.height, q.camera.width):
        raise DatasetError(size_mismatch(q.image_path, image.shape[1], image.shape[0], q.camera.width, q.camera.height))
    render = None
    if q.render_files is not None:  # read here, one query at a time, not all up front
        rgb_file, depth_file = q.render_files
        rgb = load_image(rgb_file)
        try:
            depth = np.asarray(np.load(depth_file, allow_pickle=False), dtype=np.float32)
        except OSError as e:  # missing or unreadable: the OS error names the file
            raise DatasetError(f"{depth_file}: cannot read the depth render ({e.strerror or e})") from None
        except (ValueError, TypeError) as e:  # a pickle, a damaged header, an object or text array
            raise DatasetError(f"{depth_file}: not a depth map in NumPy .npy format ({e})") from None
        depth = depth[0] if depth.ndim == 3 and depth.shape[0] == 1 else depth  # [1, H, W] as a rasterizer gives it
        for path, shape in ((rgb_file, rgb.shape[:2]), (depth_file, depth.shape)):
            if tuple(shape) != (q.camera.height, q.camera.width):
                raise DatasetError(f"{path}: render is {'x'.join(map(str, shape[::-1]))}, the query's camera "
                                   f"{q.camera.width}x{q.camera.height}")  # fmt: skip
        render = Render(rgb, depth, None, q.camera)
    return image, render
