"""Pose refinement: render at the coarse pose, match the query to the render, lift to 3D, solve.

* **Absolute** (GS-CPR): render-side keypoints are lifted with the rendered depth (pixels with no depth or
  low opacity are dropped, never passed on), and the query pose comes from PnP-RANSAC on the query
  keypoints: ``poselib`` (LO-RANSAC, default), ``pycolmap``, or ``paper`` (OpenCV EPnP-RANSAC with the
  original's 2000 iterations and 1 px / 2.5 px threshold, for comparison).
* **Relative** (GS-CPR_rel): the essential matrix between render and query gives the relative rotation and
  the translation direction; its scale comes from the rendered depth (median ratio of rendered to
  triangulated depth over the inliers); the result is composed into a *world* pose.

Whatever goes wrong (too few matches, no depth, RANSAC failure, too few inliers) the coarse pose is kept and
:attr:`RefineResult.status` says why; refinement never raises for a bad query.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields, replace

import cv2
import numpy as np
import torch

from .camera import Camera
from .geometry import make_pose, pose_errors, project_to_so3
from .match.base import Matcher, Matches, rescale_keypoints, resize_image, to_tensor_image
from .match.subpixel import refine_subpixel
from .splat.render import render

__all__ = [
    "SOLVERS",
    "STAGES",
    "RefineConfig",
    "RefineResult",
    "lift_keypoints",
    "refine_batch",
    "refine_query",
    "recovery_camera",
    "refine_relative",
    "solve_pnp",
    "spread_select",
    "undistort_keypoints",
]

SOLVERS = ("poselib", "pycolmap", "paper")
STAGES = ("render", "match", "subpixel", "lift", "pnp")  # the keys of RefineResult.timings (seconds)


@dataclass
class RefineConfig:
    """Options of one refinement (PoseLib style: every knob explicit, with the defaults we measured)."""

    solver: str = "poselib"
    ransac_px: float = 2.0  # inlier threshold in query pixels (the paper: 1 px at 640x480, 2.5 px at 1080p)
    ransac_max_iterations: int = 10_000
    # PoseLib and COLMAP default to at least 1000 RANSAC iterations. With the hundreds of good matches of a render
    # near the query, LO-RANSAC reaches the same pose after a few tens (on the H100 machine: PnP 48 ms at 1000,
    # 3.3 ms at 100, 2.0 ms at 20, same median error: benchmarks/results/refine_*); the adaptive stopping rule
    # still runs more iterations when the inlier ratio is low.
    ransac_min_iterations: int = 20
    ransac_confidence: float = 0.9999
    min_matches: int = 4  # fewer than this: keep the coarse pose (as the original)
    # Keep at most this many matches, spread over the query image (best score per cell first): beyond about a
    # thousand, more correspondences cost sub-pixel, lifting and PnP time without improving the pose. None: all.
    max_matches: int | None = 1024
    min_inliers: int = 12  # a PnP with fewer inliers is not trusted
    depth_sampling: str = "bilinear"  # or "nearest"
    min_alpha: float = 0.5  # lifted pixels must be this opaque in the render
    max_depth_jump: float = 0.05  # bilinear lookups across a relative depth step above this are dropped
    iterations: int = 1  # render again at the refined pose and refine again, up to this many times
    stop_rot_deg: float = 0.01  # stop iterating when an update is smaller than this ...
    stop_trans: float = 1e-4  # ... and this (scene units)
    render_scale: float = 1.0  # render and match at this fraction of the query resolution
    # Align each query keypoint to its render patch (match/subpixel.py): on the generated test scenes it takes
    # XFeat from 0.4 deg to 0.006 deg and SIFT / LightGlue below 0.002 deg. The paper's recipe has no such step.
    subpixel: bool = True
    # When the render at the coarse pose gives no pose (too few matches or inliers, PnP failure), render again at
    # the coarse pose with other cameras, (canvas, focal) factors of the query camera's, and keep the one whose
    # pass gives the most inliers: a canvas twice as large at the same focal length sees what a camera turned
    # away from the query still has in view (at the query's scale); a shorter or longer focal length makes up
    # for a coarse camera much closer to or farther from the scene. Only failed queries pay for it. () disables.
    recovery: tuple[tuple[float, float], ...] = ((2.0, 1.0), (1.0, 0.6), (1.0, 1.6))
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    backend: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown PnP solver {self.solver!r}; expected one of {', '.join(SOLVERS)}")
        if self.depth_sampling not in ("bilinear", "nearest"):
            raise ValueError(f"depth_sampling must be 'bilinear' or 'nearest', got {self.depth_sampling!r}")


@dataclass
class RefineResult:
    """The outcome for one query; ``pose`` is the refined w2c pose, or the coarse one when ``status != "refined"``."""

    pose: np.ndarray
    coarse: np.ndarray
    status: str
    num_matches: int = 0
    num_lifted: int = 0
    num_inliers: int = 0
    inlier_ratio: float = 0.0
    reproj_error: float = float("nan")  # median over inliers, query pixels
    iterations: int = 0
    timings: dict = field(default_factory=dict)
    message: str = ""
    matches: Matches | None = field(default=None, repr=False)  # of the last iteration, for overlays
    # The render those matches are on, [H, W, 3] in [0, 1] (a tensor on the render device when rendered here).
    render_rgb: np.ndarray | torch.Tensor | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "refined"

    def summary(self) -> dict:
        # Not asdict(): it would deep-copy the matches and the render only to drop them.
        skip = ("pose", "coarse", "matches", "render_rgb")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


# ----------------------------------------------------------------------------- pieces
def spread_select(kpts: np.ndarray, scores: np.ndarray, k: int, size: tuple[int, int], grid: int = 16) -> np.ndarray:
    """Indices of ``k`` of the keypoints ``[N, 2]``, spread over an image of ``size`` (W, H): the image is cut
    into ``grid`` x ``grid`` cells and cells take turns giving their best-scoring keypoint, so that a textured
    corner does not crowd out the rest of the view (which would weaken the PnP geometry)."""
    if len(kpts) <= k:
        return np.arange(len(kpts))
    W, H = size
    cx = np.clip((kpts[:, 0] / max(W, 1) * grid).astype(int), 0, grid - 1)
    cy = np.clip((kpts[:, 1] / max(H, 1) * grid).astype(int), 0, grid - 1)
    cell = cy * grid + cx
    order = np.lexsort((-scores, cell))  # by cell, best first within a cell
    start = np.searchsorted(cell[order], cell[order], side="left")
    rank = np.empty(len(kpts), dtype=int)
    rank[order] = np.arange(len(kpts)) - start  # 0 for each cell's best, 1 for its second, ...
    return np.sort(np.lexsort((-scores, rank))[:k])


def undistort_keypoints(kpts: np.ndarray, camera: Camera) -> np.ndarray:
    """Query keypoints moved to where an ideal pinhole with the same K would see them."""
    if not camera.has_distortion or len(kpts) == 0:
        return kpts
    pts = cv2.undistortPoints(kpts.reshape(-1, 1, 2).astype(np.float64), camera.K, np.array(camera.dist), P=camera.K)
    return pts.reshape(-1, 2)


def lift_keypoints(
    kpts: np.ndarray,
    depth: np.ndarray,
    alpha: np.ndarray | None,
    camera: Camera,
    pose_w2c: np.ndarray,
    sampling: str = "bilinear",
    min_alpha: float = 0.5,
    max_depth_jump: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """World points of render keypoints ``[N, 2]`` (pixel-index convention) from the rendered z-depth ``[H, W]``.

    Returns ``(points [M, 3], valid [N])``: a keypoint is lifted only where the depth is positive, the render
    is at least ``min_alpha`` opaque and, for bilinear sampling, the four neighbours lie on one surface
    (relative depth spread below ``max_depth_jump``). ``alpha=None`` treats every pixel with depth as opaque.
    """
    H, W = depth.shape
    kpts = np.asarray(kpts, dtype=np.float64).reshape(-1, 2)
    alpha = (depth > 0).astype(np.float32) if alpha is None else alpha
    if sampling == "nearest":
        xi, yi = np.rint(kpts[:, 0]).astype(int), np.rint(kpts[:, 1]).astype(int)
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        xi, yi = xi.clip(0, W - 1), yi.clip(0, H - 1)
        d = depth[yi, xi]
        valid = inside & (d > 0) & (alpha[yi, xi] >= min_alpha)
    else:
        x0, y0 = np.floor(kpts[:, 0]).astype(int), np.floor(kpts[:, 1]).astype(int)
        inside = (x0 >= 0) & (x0 < W - 1) & (y0 >= 0) & (y0 < H - 1)
        x0, y0 = x0.clip(0, W - 2), y0.clip(0, H - 2)
        fx, fy = kpts[:, 0] - x0, kpts[:, 1] - y0
        corners = np.stack([depth[y0, x0], depth[y0, x0 + 1], depth[y0 + 1, x0], depth[y0 + 1, x0 + 1]], axis=1)
        a = np.stack([alpha[y0, x0], alpha[y0, x0 + 1], alpha[y0 + 1, x0], alpha[y0 + 1, x0 + 1]], axis=1)
        w = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
        d = (corners * w).sum(axis=1)
        lo, hi = corners.min(axis=1), corners.max(axis=1)
        smooth = (hi - lo) <= max_depth_jump * np.maximum(lo, 1e-12)
        valid = inside & (lo > 0) & (a.min(axis=1) >= min_alpha) & smooth
    valid &= np.isfinite(d)
    p_cam = camera.unproject(kpts[valid], d[valid])
    R, t = pose_w2c[:3, :3], pose_w2c[:3, 3]
    return (p_cam - t) @ R, valid


def _poselib(p2d, p3d, camera: Camera, cfg: RefineConfig):
    import poselib

    cam = {"model": "PINHOLE", "width": camera.width, "height": camera.height,
           "params": [camera.fx, camera.fy, camera.cx, camera.cy]}  # fmt: skip
    ransac = {"max_reproj_error": cfg.ransac_px, "max_iterations": cfg.ransac_max_iterations,
              "min_iterations": cfg.ransac_min_iterations, "success_prob": cfg.ransac_confidence,
              "seed": cfg.seed}  # fmt: skip
    pose, info = poselib.estimate_absolute_pose(p2d, p3d, cam, ransac, {})
    return make_pose(pose.R, pose.t), np.asarray(info["inliers"], dtype=bool)


def _pycolmap(p2d, p3d, camera: Camera, cfg: RefineConfig):
    import pycolmap

    # COLMAP's continuous convention is a shift of both points and principal point: a pinhole is unchanged.
    cam = pycolmap.Camera(model="PINHOLE", width=camera.width, height=camera.height,
                          params=[camera.fx, camera.fy, camera.cx, camera.cy])  # fmt: skip
    opts = pycolmap.AbsolutePoseEstimationOptions()
    opts.ransac.max_error = cfg.ransac_px
    opts.ransac.max_num_trials = cfg.ransac_max_iterations
    opts.ransac.min_num_trials = cfg.ransac_min_iterations
    opts.ransac.confidence = cfg.ransac_confidence
    out = pycolmap.estimate_and_refine_absolute_pose(p2d, p3d, cam, opts)
    if out is None:
        return None, None
    T = np.eye(4)
    T[:3, :4] = out["cam_from_world"].matrix()
    return T, np.asarray(out["inlier_mask"], dtype=bool)


def _paper(p2d, p3d, camera: Camera, cfg: RefineConfig):
    # The original: OpenCV EPnP inside RANSAC, 2000 iterations, confidence 0.99. OpenCV's generator is seeded
    # for each query: its pose must not depend on which queries the process solved before (sharded runs).
    cv2.setRNGSeed(cfg.seed)
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(
        p3d.astype(np.float32), p2d.astype(np.float32), camera.K, None, reprojectionError=cfg.ransac_px,
        iterationsCount=2000, confidence=0.99, flags=cv2.SOLVEPNP_EPNP,
    )  # fmt: skip
    if not ok or inliers is None:
        return None, None
    mask = np.zeros(len(p2d), dtype=bool)
    mask[inliers.reshape(-1)] = True
    return make_pose(cv2.Rodrigues(rvec)[0], tvec.reshape(3)), mask


def solve_pnp(
    p2d: np.ndarray, p3d: np.ndarray, camera: Camera, cfg: RefineConfig
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """w2c pose and inlier mask from 2D-3D correspondences with the configured solver; ``(None, None)`` on
    failure (including non-finite output)."""
    solver = {"poselib": _poselib, "pycolmap": _pycolmap, "paper": _paper}[cfg.solver]
    try:
        T, inliers = solver(np.ascontiguousarray(p2d, np.float64), np.ascontiguousarray(p3d, np.float64), camera, cfg)
    except (cv2.error, RuntimeError, ValueError):
        return None, None
    if T is None or not np.all(np.isfinite(T)):
        return None, None
    T[:3, :3] = project_to_so3(T[:3, :3])
    return T, inliers


def _reproj_error(T: np.ndarray, p2d: np.ndarray, p3d: np.ndarray, camera: Camera) -> np.ndarray:
    pc = p3d @ T[:3, :3].T + T[:3, 3]
    return np.linalg.norm(camera.project(pc) - p2d, axis=1)


def _render_at(model, cameras: Camera | list[Camera], poses: np.ndarray, cfg: RefineConfig):
    """Renders at ``poses [B, 4, 4]`` (or one ``[4, 4]``): RGB stays on the render device (the matcher takes it
    from there), depth and alpha come to the host for lifting."""
    with torch.inference_mode():
        out = render(model, cameras, poses, background=cfg.background, backend=cfg.backend)
    rgb, depth, alpha = out.rgb.float(), out.depth.float().cpu().numpy(), out.alpha.float().cpu().numpy()
    return (rgb[0], depth[0], alpha[0]) if np.ndim(poses) == 2 else (rgb, depth, alpha)


def _render_camera(query_camera: Camera, cfg: RefineConfig) -> Camera:
    """The camera renders are made with: the query's, without distortion, at ``cfg.render_scale``."""
    cam = query_camera.without_distortion()
    return cam.scaled(cfg.render_scale) if cfg.render_scale != 1.0 else cam


def _on_device(image, device: torch.device) -> torch.Tensor:
    """An image as a tensor on ``device``, uploaded as it is (uint8 stays uint8: a quarter of the copy)."""
    t = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    return t.to(device)


def _query_for_matching(query_image: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, tuple | None]:
    """The query at the render's ``size`` (W, H) when ``render_scale`` made the render smaller, so that both
    images show the scene at one scale; and the x, y scales to map its keypoints back (None: not resized)."""
    H, W = query_image.shape[:2]
    if size == (W, H):
        return query_image, None
    small = resize_image(to_tensor_image(query_image, query_image.device), *size)
    return small.permute(1, 2, 0).clamp(0, 1), (size[0] / W, size[1] / H)


def _to_query_pixels(matches: Matches, scales: tuple | None) -> Matches:
    """Matches on the resized query (:func:`_query_for_matching`) in the full-size query's pixels."""
    if scales is None or not len(matches):
        return matches
    return Matches(matches.kpts0, rescale_keypoints(matches.kpts1, *scales), matches.scores)


def _unusable(coarse: np.ndarray) -> RefineResult | None:
    """The result for a coarse pose that cannot be refined (not a finite 4x4), else None."""
    if coarse.shape == (4, 4) and np.all(np.isfinite(coarse)):
        return None
    return RefineResult(coarse, coarse, "bad_input", message="coarse pose is not a finite 4x4 matrix")


# ----------------------------------------------------------------------------- absolute refinement
def refine_query(
    model,
    query_image: np.ndarray,
    query_camera: Camera,
    coarse_pose: np.ndarray,
    matcher: Matcher,
    cfg: RefineConfig | None = None,
    rendered: tuple[np.ndarray, np.ndarray, np.ndarray | None, Camera] | None = None,
    matches: Matches | None = None,
    gpu_lock: AbstractContextManager | None = None,
) -> RefineResult:
    """Refine one query's coarse w2c pose (GS-CPR).

    Args:
        model: a scene model for ``gscpr.splat.render`` (None if ``rendered`` is given and ``iterations == 1``).
        query_image: RGB ``[H, W, 3]`` at ``query_camera``'s size (array, or tensor on any device).
        rendered: a render at the coarse pose already made (on disk, or by :func:`refine_batch`):
            ``(rgb [H, W, 3] array or tensor, depth [H, W], alpha [H, W] or None, camera)``.
        matches: render-to-query matches on ``rendered`` already computed (before the sub-pixel step; query
            keypoints on the query resized to the render camera's size when ``render_scale != 1``).
        gpu_lock: held around rendering, matching and the sub-pixel step, when several threads refine queries
            at once (their lifting and PnP run in parallel, the device work one at a time).
    """
    cfg = cfg or RefineConfig()
    gpu = gpu_lock or nullcontext()
    coarse = np.asarray(coarse_pose, dtype=np.float64)
    if (bad := _unusable(coarse)) is not None:
        return bad
    result = RefineResult(pose=coarse, coarse=coarse, status="bad_input")
    render_cam = _render_camera(query_camera, cfg)
    with gpu:
        query_image = _on_device(query_image, matcher.device)  # once: the matcher and the sub-pixel step share it
        # With render_scale < 1 the query is matched (and aligned) at the render's scale, then mapped back.
        match_query, scales = _query_for_matching(query_image, render_cam.size)
    pinhole = query_camera.without_distortion()  # query keypoints are undistorted to this camera
    pose = coarse
    timings = dict.fromkeys(STAGES, 0.0)
    for it in range(cfg.iterations):
        t0 = time.perf_counter()
        if it == 0 and rendered is not None:
            rgb, depth, alpha, cam = rendered
        elif model is None:
            result.status, result.message = "render_failed", "no scene model to render and no render given"
            break
        else:
            try:
                with gpu:
                    rgb, depth, alpha = _render_at(model, render_cam, pose, cfg)
            except (RuntimeError, ValueError) as e:
                result.status, result.message = "render_failed", str(e)
                break
            cam = render_cam
        t1 = time.perf_counter()
        if it > 0 or matches is None:
            try:
                with gpu:
                    matches = matcher.match(rgb, match_query)
            except (RuntimeError, ValueError) as e:  # a matcher that chokes on an image is a failed query
                matches, result.message = Matches.empty(), f"matcher failed: {e}"
        if cfg.max_matches and len(matches) > cfg.max_matches:
            matches = matches.subset(spread_select(matches.kpts1, matches.scores, cfg.max_matches, render_cam.size))
        t_sub = time.perf_counter()
        if cfg.subpixel and len(matches) and cam.size == render_cam.size:
            with gpu:
                matches, _ = refine_subpixel(rgb, match_query, matches, device=matcher.device)
        matches = _to_query_pixels(matches, scales)
        t2 = time.perf_counter()
        timings["render"] += t1 - t0
        timings["match"] += t_sub - t1
        timings["subpixel"] += t2 - t_sub
        result.matches, result.num_matches, result.render_rgb = matches, len(matches), rgb
        if len(matches) < cfg.min_matches:
            result.status = "too_few_matches"
            break
        p3d, valid = lift_keypoints(matches.kpts0, depth, alpha, cam, pose, cfg.depth_sampling, cfg.min_alpha,
                                    cfg.max_depth_jump)  # fmt: skip
        p2d = undistort_keypoints(matches.kpts1[valid], query_camera)
        t3 = time.perf_counter()
        result.num_lifted = int(valid.sum())
        timings["lift"] += t3 - t2
        if result.num_lifted < cfg.min_matches:
            result.status = "too_few_valid_depth"
            break
        T, inliers = solve_pnp(p2d, p3d, pinhole, cfg)
        timings["pnp"] += time.perf_counter() - t3
        if T is None:
            result.status, result.message = "pnp_failed", f"{cfg.solver} found no pose"
            break
        n_in = int(inliers.sum())
        if n_in < cfg.min_inliers:
            result.status = "too_few_inliers"
            result.num_inliers = n_in
            break
        step_r, step_t = pose_errors(T, pose)
        pose = T
        err = _reproj_error(T, p2d[inliers], p3d[inliers], pinhole)
        result.pose, result.status, result.iterations = T, "refined", it + 1
        result.num_inliers, result.inlier_ratio = n_in, n_in / max(1, result.num_lifted)
        result.reproj_error = float(np.median(err)) if len(err) else float("nan")
        if step_r < cfg.stop_rot_deg and step_t < cfg.stop_trans:
            break
    result.timings = timings
    if result.iterations and result.status != "refined":
        # A later pass failed: result.pose is still the last good refinement, but a render at a right pose
        # matches its query easily, so the message says so (a hint that this pose may be wrong).
        detail = f" ({result.message})" if result.message else ""
        result.message = f"pass {result.iterations + 1}, at the refined pose: {result.status}{detail}"
        result.status = "refined"
    if not result.iterations and cfg.recovery and model is not None and result.status in RECOVERABLE:
        result = _recover(model, query_image, query_camera, coarse, matcher, cfg, result, gpu_lock)
    return result


RECOVERABLE = ("too_few_matches", "too_few_valid_depth", "too_few_inliers", "pnp_failed")


def recovery_camera(camera: Camera, canvas: float, focal: float) -> Camera:
    """``camera`` with its image grown ``canvas`` times about the principal point's offset (a wider field of view
    at the same scale) and its focal length times ``focal``."""
    W, H = round(camera.width * canvas), round(camera.height * canvas)
    grown = camera.cropped(-((W - camera.width) // 2), -((H - camera.height) // 2), W, H)
    return replace(grown, fx=camera.fx * focal, fy=camera.fy * focal)


def _recover(model, query_image, query_camera: Camera, coarse, matcher: Matcher, cfg: RefineConfig, failed, gpu_lock):
    """:attr:`RefineConfig.recovery`: one pass on a render at the coarse pose with each recovery camera; the pass
    with the most inliers goes on with the remaining iterations at the usual camera. ``failed`` (the first
    attempt) is returned, with the time spent, when none gives a pose."""
    once = replace(cfg, iterations=1, recovery=())
    timings = dict(failed.timings)
    best = None
    for canvas, focal in cfg.recovery:
        cam = recovery_camera(_render_camera(query_camera, cfg), canvas, focal)
        t0 = time.perf_counter()
        try:
            with gpu_lock or nullcontext():
                rgb, depth, alpha = _render_at(model, cam, coarse, cfg)
        except (RuntimeError, ValueError):
            continue
        timings["render"] += time.perf_counter() - t0
        r = refine_query(None, query_image, query_camera, coarse, matcher, once, (rgb, depth, alpha, cam),
                         gpu_lock=gpu_lock)  # fmt: skip
        for k, v in r.timings.items():
            timings[k] = timings.get(k, 0.0) + (v if k != "render" else 0.0)
        if r.ok and (best is None or r.num_inliers > best[0].num_inliers):
            best = (r, canvas, focal)
    if best is None:
        failed.timings = timings
        failed.message = (failed.message + "; " if failed.message else "") + "no recovery render gave a pose"
        return failed
    result, canvas, focal = best
    if cfg.iterations > 1:
        rest = refine_query(model, query_image, query_camera, result.pose, matcher,
                            replace(cfg, iterations=cfg.iterations - 1, recovery=()), gpu_lock=gpu_lock)  # fmt: skip
        for k, v in rest.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        if rest.ok:
            rest.iterations += result.iterations
            result = rest
    result.coarse, result.timings = coarse, timings
    result.message = f"recovered with a render of canvas x{canvas:g}, focal x{focal:g} at the coarse pose"
    return result


def refine_batch(
    model,
    query_images: list[np.ndarray],
    query_cameras: list[Camera],
    coarse_poses: np.ndarray,
    matcher: Matcher,
    cfg: RefineConfig | None = None,
    pool: Executor | None = None,
) -> list[RefineResult]:
    """:func:`refine_query` for ``B`` queries of one image size with the GPU work batched: one render call for
    all coarse poses and one feature-extraction call for all renders and queries (matchers that support it);
    the sub-pixel step, lifting and PnP then run per query, and so do further iterations: in the threads of
    ``pool`` when given (device work taking turns under a lock, PnP in parallel). The render and match times of
    the batch are shared equally among its queries in their timings.
    """
    cfg = cfg or RefineConfig()
    B = len(query_images)
    coarse = [np.asarray(p, dtype=np.float64) for p in coarse_poses]
    if len(query_cameras) != B or len(coarse) != B:
        raise ValueError(f"got {B} images, {len(query_cameras)} cameras and {len(coarse)} poses")
    cams = [_render_camera(c, cfg) for c in query_cameras]
    results: list[RefineResult | None] = [_unusable(p) for p in coarse]  # None where the pose is usable
    ok = [i for i in range(B) if results[i] is None]
    sizes = {cams[i].size for i in ok}
    if len(sizes) > 1:
        raise ValueError(f"refine_batch needs queries of one size, got {sorted(sizes)}")
    if ok:
        t0 = time.perf_counter()
        try:
            rgb, depth, alpha = _render_at(model, [cams[i] for i in ok], np.stack([coarse[i] for i in ok]), cfg)
        except (RuntimeError, ValueError):  # one bad view spoils a batched render: fall back to one by one
            pairs = zip(query_images, query_cameras, coarse, strict=True)
            return [refine_query(model, im, c, p, matcher, cfg) for im, c, p in pairs]
        t1 = time.perf_counter()
        try:
            query_images = [_on_device(im, matcher.device) for im in query_images]
            small = [_query_for_matching(query_images[i], cams[i].size)[0] for i in ok]
            matches = matcher.match_batch(list(rgb), small)  # on the query at the render's scale, as refine_query
        except (RuntimeError, ValueError):
            matches = [None] * len(ok)  # refine_query matches each pair again and reports its failure
        t2 = time.perf_counter()
        lock = threading.Lock() if pool is not None else None

        def finish(j: int) -> RefineResult:
            i = ok[j]
            rendered = (rgb[j], depth[j], alpha[j], cams[i])
            return refine_query(model, query_images[i], query_cameras[i], coarse[i], matcher, cfg, rendered,
                                matches[j], gpu_lock=lock)  # fmt: skip

        done = list(pool.map(finish, range(len(ok)))) if pool is not None else [finish(j) for j in range(len(ok))]
        for j, r in enumerate(done):
            r.timings["render"] += (t1 - t0) / len(ok)
            r.timings["match"] += (t2 - t1) / len(ok)
            results[ok[j]] = r
    return results


# ----------------------------------------------------------------------------- relative refinement
def refine_relative(
    model,
    query_image: np.ndarray,
    query_camera: Camera,
    coarse_pose: np.ndarray,
    matcher: Matcher,
    cfg: RefineConfig | None = None,
    rendered: tuple[np.ndarray, np.ndarray, np.ndarray | None, Camera] | None = None,
    gpu_lock: AbstractContextManager | None = None,
) -> RefineResult:
    """GS-CPR_rel: relative pose render -> query from the essential matrix, metric scale from rendered depth,
    composed into a world-to-camera pose (the original wrote the render-frame pose instead). ``gpu_lock`` as
    in :func:`refine_query`."""
    cfg = cfg or RefineConfig()
    coarse = np.asarray(coarse_pose, dtype=np.float64)
    if (bad := _unusable(coarse)) is not None:
        return bad
    result = RefineResult(pose=coarse, coarse=coarse, status="bad_input")
    t0 = time.perf_counter()
    with gpu_lock or nullcontext():
        if rendered is not None:
            rgb, depth, alpha, cam = rendered
        else:
            cam = query_camera.without_distortion()
            rgb, depth, alpha = _render_at(model, cam, coarse, cfg)
        t1 = time.perf_counter()
        matches = matcher.match(rgb, query_image)
    t2 = time.perf_counter()
    result.matches, result.num_matches, result.render_rgb = matches, len(matches), rgb
    result.timings = {"render": t1 - t0, "match": t2 - t1}
    if len(matches) < max(cfg.min_matches, 8):
        result.status = "too_few_matches"
        return result
    qcam = query_camera.without_distortion()
    n0 = cam.unproject(matches.kpts0, np.ones(len(matches)))[:, :2]
    n1 = qcam.unproject(undistort_keypoints(matches.kpts1, query_camera), np.ones(len(matches)))[:, :2]
    thresh = cfg.ransac_px / np.sqrt(qcam.fx * qcam.fy)
    E, mask = cv2.findEssentialMat(n0, n1, np.eye(3), method=cv2.RANSAC, prob=0.9999, threshold=thresh)
    if E is None or E.shape != (3, 3):
        result.status, result.message = "pnp_failed", "no essential matrix"
        return result
    n_in, R, t, mask = cv2.recoverPose(E, n0, n1, np.eye(3), mask=mask)
    inl = mask.reshape(-1) > 0
    if n_in < cfg.min_inliers:
        result.status, result.num_inliers = "too_few_inliers", int(n_in)
        return result
    # Triangulate inliers in the render frame at unit baseline; the rendered depth fixes the scale.
    P0 = np.hstack([np.eye(3), np.zeros((3, 1))])
    P1 = np.hstack([R, t.reshape(3, 1)])
    X = cv2.triangulatePoints(P0, P1, n0[inl].T, n1[inl].T)
    z_tri = X[2] / X[3]
    p3d, valid = lift_keypoints(matches.kpts0[inl], depth, alpha, cam, np.eye(4), cfg.depth_sampling, cfg.min_alpha,
                                cfg.max_depth_jump)  # fmt: skip
    ratios = p3d[:, 2] / z_tri[valid]
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if len(ratios) < cfg.min_matches:
        result.status, result.message = "too_few_valid_depth", "no rendered depth to fix the scale"
        return result
    scale = float(np.median(ratios))
    T_rel = make_pose(R, scale * t.reshape(3))  # render camera -> query camera
    result.pose = T_rel @ coarse
    result.status, result.num_lifted, result.num_inliers = "refined", int(valid.sum()), int(n_in)
    result.inlier_ratio = n_in / len(matches)
    result.iterations = 1
    result.timings["pnp"] = time.perf_counter() - t2
    return result
