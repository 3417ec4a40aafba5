"""The one record type every dataset loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..camera import Camera

__all__ = ["DatasetError", "Frame"]


class DatasetError(ValueError):
    """A dataset folder or file that cannot be read; the message names the path and the problem."""


@dataclass
class Frame:
    """One image of a dataset: where it is, how it was taken, and its pose if known.

    Attributes:
        name: the image's name in the dataset's own scheme (the one its pose files use), e.g.
            ``seq-03-frame-000000.color.png`` (7-Scenes, ACE layout) or ``seq1/frame00001.png``.
        image_path: path of the image file.
        camera: intrinsics at the image's stored resolution (pixel-index convention, see ``camera.py``).
        pose: world-to-camera 4x4 float64 in OpenCV axes, or ``None`` where no ground truth is known.
        split: ``"train"``, ``"test"``, ``"val"`` or ``None``.
        meta: anything else the dataset records per image (exposure, sharpness, source file, ...).
    """

    name: str
    image_path: Path
    camera: Camera
    pose: np.ndarray | None = None
    split: str | None = None
    meta: dict = field(default_factory=dict)
