"""The relative pose of two views from MASt3R's pairwise pointmaps: GS-CPR_rel as published (Liu et al., ICLR
2025, Sec. 3.3), which reads it from DUSt3R's global aligner in ``PairViewer`` mode (``dust3r/cloud_opt/
pair_viewer.py``); this is the same computation, written for gscpr.

For each image ``i`` of the pair the confidence of the edge ``i_(1-i)`` is ``mean(conf of i's own map) x
mean(conf of the other image's map in i's frame)``; the image of the more confident edge is the reference
frame. The other camera's focal length comes from its own pointmap (Weiszfeld's robust fit of
``pixel - pp = f (x, y) / z``, principal point at ``(W/2, H/2)``, 10 re-weightings) and its pose in the reference
frame from PnP-RANSAC (OpenCV SQPnP, 100 iterations, 5 px at the working size) of its points expressed in the
reference frame against its pixels, over the pixels whose confidence exceeds 3. The reference camera's depth
map (z of its points in its own frame) is what the rendered depth scales.

Unlike ``PairViewer``, a failed PnP is reported (``None``) instead of becoming the identity pose.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import invert_pose, make_pose
from ..pointmaps import PairPointmaps
from .base import Estimate, PoseSolver, RelativePoseSolver, SolverOptions

__all__ = ["Mast3rPairSolver", "estimate_focal"]

MIN_CONFIDENCE = 3.0  # DUSt3R's min_conf_thr: pixels whose best confidence is at most this are not used


def estimate_focal(pts: np.ndarray, iterations: int = 10) -> float:
    """Focal length (pixels) of a camera whose pixels see the points ``pts [H, W, 3]`` (its own frame), principal
    point ``(W/2, H/2)`` with integer pixel coordinates: the L1 fit ``min_f sum |p - pp - f (x, y) / z|`` by
    iteratively re-weighted least squares from the L2 solution (DUSt3R's ``focal_mode='weiszfeld'``)."""
    H, W = pts.shape[:2]
    u, v = np.meshgrid(np.arange(W, dtype=np.float64) - W / 2, np.arange(H, dtype=np.float64) - H / 2)
    pix = np.stack([u, v], axis=-1).reshape(-1, 2)
    p = pts.reshape(-1, 3).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = np.nan_to_num(p[:, :2] / p[:, 2:3], nan=0.0, posinf=0.0, neginf=0.0)
    dot_xp, dot_xx = (xy * pix).sum(1), (xy * xy).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a map with no usable point: nan, which callers refuse
        f = dot_xp.mean() / dot_xx.mean()
        for _ in range(iterations):
            w = 1.0 / np.maximum(np.linalg.norm(pix - f * xy, axis=1), 1e-8)
            f = (w * dot_xp).mean() / (w * dot_xx).mean()
    return float(f)


class Mast3rPairSolver(RelativePoseSolver):
    """``mast3r-pair``: :meth:`solve_pointmaps` ``(pair, options)`` -> the transform from image 0's camera frame
    (the render) to image 1's (the query), in MASt3R's units (metric up to the network's error: the caller fixes
    the scale), with ``info["depth0"]``, image 0's depth map ``[H, W]`` at the working size in the same units.

    Options: :attr:`SolverOptions.seed`; :attr:`SolverOptions.backend` goes to ``cv2.solvePnPRansac`` over the
    ``PairViewer`` values (``iterationsCount=100``, ``reprojectionError=5``). The threshold and iteration
    fields of :class:`SolverOptions` (the absolute PnP's) are not used: the PnP here is at MASt3R's working size.
    """

    name = "mast3r-pair"
    inputs = "pointmaps"
    defaults = {"max_iterations": 100, "min_iterations": 0, "confidence": 0.99}  # PairViewer's, for the record

    def solve_pointmaps(self, pair: PairPointmaps, options: SolverOptions | None = None) -> Estimate | None:
        """The estimate from ``pair``, or ``None`` when the PnP finds no pose (never the identity)."""
        return PoseSolver.solve(self, pair, options=options)

    def _solve(self, pair, *rest):  # type: ignore[override]
        if not isinstance(pair, PairPointmaps):
            raise TypeError("mast3r-pair solves from MASt3R's pointmaps (solve_pointmaps), not from correspondences")
        (options,) = rest
        conf = [float(pair.conf_self[i].mean() * pair.conf_other[1 - i].mean()) for i in (0, 1)]
        ref = 0 if conf[0] > conf[1] else 1
        other = 1 - ref
        H, W = pair.shape(other)
        focal = estimate_focal(pair.pts_self[other])
        if not np.isfinite(focal) or focal <= 0:
            return None
        K = np.array([[focal, 0, W / 2], [0, focal, H / 2], [0, 0, 1]], dtype=np.float32)
        best = np.maximum(pair.conf_self[other], pair.conf_other[other])
        mask = best > MIN_CONFIDENCE
        if mask.sum() < 4:
            return None
        pixels = np.stack(np.meshgrid(np.arange(W), np.arange(H)), axis=-1).astype(np.float32)
        cv2.setRNGSeed(options.seed)
        kwargs = {"iterationsCount": 100, "reprojectionError": 5.0, "flags": cv2.SOLVEPNP_SQPNP, **options.backend}
        ok, rvec, tvec, inl = cv2.solvePnPRansac(pair.pts_other[other][mask].astype(np.float32), pixels[mask], K,
                                                 None, **kwargs)  # fmt: skip
        if not ok or inl is None or len(inl) < 4:
            return None
        w2c_other = make_pose(cv2.Rodrigues(rvec)[0], tvec.reshape(3))  # reference frame -> other camera
        inliers = np.zeros(int(mask.sum()), dtype=bool)
        inliers[inl.reshape(-1)] = True
        if ref == 0:  # the render is the reference: the PnP gives render -> query
            pose, depth0 = w2c_other, pair.pts_self[0][..., 2]
        else:  # the query is: the PnP gives query -> render, and the render's points come from the query's frame
            pose = invert_pose(w2c_other)
            pts0 = pair.pts_other[0].reshape(-1, 3) @ w2c_other[:3, :3].T + w2c_other[:3, 3]
            depth0 = pts0[:, 2].reshape(pair.shape(0))
        if not np.linalg.norm(pose[:3, 3]) > 0:
            return None
        info = {"depth0": np.asarray(depth0, dtype=np.float64), "focal": focal, "reference": ref, "confidence": conf}
        return Estimate(pose, inliers, info)
