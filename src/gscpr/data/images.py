"""Reading images as float RGB, compositing transparent ones on a background."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .frame import DatasetError

__all__ = ["load_rgb", "to_uint8"]


def load_rgb(path: str | Path, background: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """An image as ``float32 [H, W, 3]`` in [0, 1]; RGBA images are composited on ``background``.

    Grey images are repeated to three channels; 16-bit images are scaled by 65535.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such image")
    try:
        img = iio.imread(path)
    except Exception as e:  # imageio raises many types for truncated or foreign files
        raise DatasetError(f"{path}: cannot read image ({e})") from None
    scale = 65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0
    img = img.astype(np.float32) / scale
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise DatasetError(f"{path}: unsupported image shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        alpha = img[..., 3:]
        img = img[..., :3] * alpha + np.asarray(background, dtype=np.float32) * (1.0 - alpha)
    return np.ascontiguousarray(img)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An image in [0, 1] as ``uint8`` (rounded, clipped); ``uint8`` input is returned as it is."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
