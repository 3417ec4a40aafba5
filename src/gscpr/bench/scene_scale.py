"""The scene's scale ``D`` and the success thresholds of ``gscpr bench`` relative to it.

``D`` makes one protocol and one criterion fit scenes of any size and unit: NeRF-synthetic objects are seen from
4.03 units, a room capture from a few metres, a COLMAP model from anything. Object-centred formats
(:func:`gscpr.data.format_traits`) take the median camera distance to the origin; other scenes the median rendered
depth at the ground-truth poses. The criterion itself is :func:`gscpr.evaluate.within` (strictly below both).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import format_traits
from ..geometry import camera_center

__all__ = ["ABSOLUTE", "FINE", "SUCCESS", "scene_distance"]

#: Success: ``(rotation in degrees, translation as a share of D)``; GSFeatLoc's criterion with the translation
#: normalised by the scene's scale, as its README states.
SUCCESS = (5.0, 0.05)
#: The stricter criterion reported beside it.
FINE = (1.0, 0.01)
#: GSFeatLoc's code's criterion: ``(degrees, scene units)``, not normalised.
ABSOLUTE = (5.0, 0.05)


def scene_distance(fmt: str, gt_w2c: np.ndarray, model=None, cameras=None, background=(0.0, 0.0, 0.0)) -> float:
    """The scene's scale ``D``: median camera distance to the origin for object-centred formats (Blender), else
    the median over the views of the median rendered depth (opaque pixels) at the ground-truth poses ``[N, 4, 4]``
    (w2c), rendering ``model`` with ``cameras`` (one per pose) on ``background``. In scene units. Raises
    ``ValueError`` when the model renders nothing at those poses."""
    gt = np.asarray(gt_w2c, dtype=np.float64)
    if format_traits(fmt).object_centred or model is None:
        return float(np.median(np.linalg.norm(camera_center(gt), axis=-1)))
    from ..splat.render import render

    medians = []
    with torch.inference_mode():
        for T, cam in zip(gt, cameras, strict=True):
            out = render(model, cam, T, background=background)
            d, a = out.depth[0].float(), out.alpha[0].float()
            sel = d[(a > 0.5) & (d > 0)]
            if sel.numel():
                medians.append(float(sel.median()))
    if not medians:
        raise ValueError("the model renders nothing at the ground-truth poses: cannot measure the scene's depth")
    return float(np.median(medians))
