"""MASt3R's pairwise outputs, as the relative pose step takes them: the matcher (``gscpr.match.mast3r``) fills
a :class:`PairPointmaps`, the ``mast3r-pair`` solver (``gscpr.solvers.relative_mast3r``) reads it. A module of
its own so that neither layer imports the other.

MASt3R (Leroy et al., ECCV 2024; DUSt3R, Wang et al., CVPR 2024) regresses, for an ordered pair of images
``(i, j)`` (an *edge* ``i_j``), a 3D point for every pixel of both images in the camera frame of image ``i``,
each with a confidence (> 1). GS-CPR_rel runs both edges of the (render, query) pair, as DUSt3R's
``PairViewer`` needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PairPointmaps"]


@dataclass
class PairPointmaps:
    """Both edges of a pair at the network's working size (image 0 = the render, image 1 = the query).

    Attributes:
        pts_self: ``pts_self[i]`` ``[H_i, W_i, 3]``: image ``i``'s points in its own camera frame, from edge
            ``i_(1-i)`` (DUSt3R's ``pred1['pts3d']``), in MASt3R's units (metric up to the network's error).
        pts_other: ``pts_other[i]`` ``[H_i, W_i, 3]``: image ``i``'s points in the frame of image ``1 - i``, from
            edge ``(1-i)_i`` (``pred2['pts3d_in_other_view']``).
        conf_self, conf_other: ``[H_i, W_i]`` confidences of those maps (``pred1['conf']``, ``pred2['conf']``).
        resized: ``(w, h)`` of each image after the long-side resize, before the centre crop.
        crop: ``(left, top)`` of each image's crop in the resized image: pixel ``(x, y)`` of a map is pixel
            ``(x + left, y + top)`` of the resized image.
    """

    pts_self: tuple[np.ndarray, np.ndarray]
    pts_other: tuple[np.ndarray, np.ndarray]
    conf_self: tuple[np.ndarray, np.ndarray]
    conf_other: tuple[np.ndarray, np.ndarray]
    resized: tuple[tuple[int, int], tuple[int, int]]
    crop: tuple[tuple[int, int], tuple[int, int]]

    def shape(self, i: int) -> tuple[int, int]:
        """``(H, W)`` of image ``i``'s maps."""
        return self.pts_self[i].shape[:2]
