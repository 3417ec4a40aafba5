"""The refinement loop of one query: a pass at the coarse pose, recovery renders when it finds nothing, further
passes at the refined pose until the update is small.

A *pass* renders at a pose (or takes a render already made), matches the query against it and solves for the
query's pose with the configured step: absolute (:mod:`.absolute`, GS-CPR) or relative (:mod:`.relative`,
GS-CPR_rel). Whatever goes wrong (too few matches, no depth, solver failure, too few inliers) the coarse pose is
kept and :attr:`RefineResult.status` says why; refinement never raises for a bad query.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import numpy as np
import torch

from ..camera import Camera
from ..geometry import pose_errors
from ..match.base import Matcher, Matches
from ..solvers import get_solver
from ..splat.render import render
from .absolute import solve_absolute
from .config import RefineConfig
from .matching import QueryImage, match_render
from .relative import solve_relative
from .rendering import recovery_camera, render_at
from .types import RECOVERABLE, STAGES, Pass, RefineResult, Render, Status
from .verify import (
    MODEL_FILE,
    downsample,
    focal_fit,
    image_agreement,
    load_confidence_model,
    pose_features,
    to_pinhole,
    variant_for,
)

__all__ = ["Refiner", "refine_query", "refine_relative"]

# A focal fit whose RMS ends above this many times the solved pose's did not converge (seen 4-70 x; converged fits
# end at 0.3-1.05 x, over their subsample of the inliers): no focal_log_ratio for the run-level check.
FIT_RMS_MARGIN = 1.5


class Refiner:
    """GS-CPR with one scene model, matcher and configuration: :meth:`refine` one query at a time.

    Args:
        model: a scene model for ``gscpr.splat.render`` (``None``: only renders handed to :meth:`refine` are used,
            and further iterations or recovery renders cannot run).
        matcher: a :class:`~gscpr.match.Matcher`.
        config: the options (default: the ``gscpr`` recipe).
        gpu_lock: held around rendering, matching and the sub-pixel step, when several threads refine queries at
            once (their lifting and solving run in parallel, the device work one at a time).
    """

    def __init__(
        self,
        model,
        matcher: Matcher,
        config: RefineConfig | None = None,
        gpu_lock: AbstractContextManager | None = None,
    ):
        self.model, self.matcher = model, matcher
        self.config = config or RefineConfig()
        self.gpu = gpu_lock or nullcontext()
        if self.config.relative:
            self.solver, self.step = get_solver(self.config.relative_solver, "relative"), solve_relative
        else:
            self.solver, self.step = get_solver(self.config.solver, "absolute"), solve_absolute
        if self.config.verify:  # the models this step's verification can need, read now: a bad file fails here
            path = self.config.confidence_model or MODEL_FILE
            for rendered in (True, False):
                variant = variant_for(self.config.relative, rendered)
                try:
                    load_confidence_model(variant, self.config.confidence_model)
                except KeyError:
                    raise ValueError(f"{path}: no confidence model for {variant!r} (benchmarks/fit_confidence.py "
                                     "fit writes one per variant it has rows for)") from None  # fmt: skip
                except (OSError, ValueError, TypeError) as e:
                    raise ValueError(f"{path}: not a confidence model file ({e})") from None

    def refine(
        self,
        query_image,
        query_camera: Camera,
        coarse_pose: np.ndarray,
        render: Render | None = None,
        matches: Matches | None = None,
        color: Callable | None = None,
    ) -> RefineResult:
        """Refine one query's coarse w2c pose ``[4, 4]``.

        Args:
            query_image: RGB ``[H, W, 3]`` at ``query_camera``'s size (array, or tensor on any device).
            render: a render at the coarse pose already made (read from disk, or by a batch).
            matches: render-to-query matches on ``render`` already computed (before the sub-pixel step; query
                keypoints on the query resized to the render camera's size when ``render_scale != 1``).
            color: applied to the RGB of every render made here, ``[H, W, 3]`` tensor in [0, 1] -> same (ACT: the
                query's colour transform, ``gscpr.splat.act``); never to ``render``.
        """
        cfg = self.config
        coarse = np.asarray(coarse_pose, dtype=np.float64)
        if coarse.shape != (4, 4) or not np.all(np.isfinite(coarse)):
            return RefineResult.failed(coarse, Status.BAD_INPUT, "coarse pose is not a finite 4x4 matrix")
        t0 = time.perf_counter()
        with self.gpu:
            query = QueryImage.prepare(query_image, query_camera, cfg, self.matcher.device)
        timings = dict.fromkeys(STAGES, 0.0)
        timings["match"] = time.perf_counter() - t0  # the query's upload and resize are the matcher's input
        first = best = self._pass(query, coarse, query.render_camera, timings, render, matches, color)
        message = best.message
        if not best.ok and best.status in RECOVERABLE and cfg.recovery and self.model is not None:
            best, message = self._recover(query, coarse, best, timings, color)
        if not best.ok:
            return self._result(coarse, best, timings, 0, None, message)
        # Further passes at the refined pose, until an update is below the stopping thresholds.
        prev, passes, confirmed = coarse, 1, None
        for _ in range(1, cfg.iterations):
            step_rot, step_trans = pose_errors(best.pose, prev)
            if step_rot < cfg.stop_rot_deg and step_trans < cfg.stop_trans:
                break
            nxt = self._pass(query, best.pose, query.render_camera, timings, color=color)
            if not nxt.ok:
                # The refinement is kept, but a render at a right pose matches its query easily: say so.
                detail = f" ({nxt.message})" if nxt.message else ""
                message = "; ".join(m for m in (message, f"pass {passes + 1}, at the refined pose: {nxt.status}"
                                                f"{detail}") if m)  # fmt: skip
                confirmed = False
                break
            prev, best, passes, confirmed = best.pose, nxt, passes + 1, True
        result = self._result(coarse, best, timings, passes, confirmed, message)
        return self._verify(result, query, first, best, color) if cfg.verify else result

    def _verify(self, result: RefineResult, query: QueryImage, first: Pass, best: Pass, color) -> RefineResult:
        """Score ``best``'s pose (:mod:`.verify`): a small render there against the query, the same at the coarse
        pose, and the solver's numbers; the result with its confidence, ``unverified`` when below threshold."""
        cfg, coarse = self.config, result.coarse
        t0 = time.perf_counter()
        rot, trans = pose_errors(best.pose, coarse)
        # The depth scale from every 8th pixel each way: the median of a 1080p map costs ~5 ms, this ~0.1.
        depth = first.render.depth[::8, ::8] if first.render is not None else np.zeros(0)
        valid = depth[depth > 0]
        ncc_refined = ncc_coarse = spread = float("nan")
        if self.model is not None:
            try:
                with self.gpu:
                    (ncc_refined, spread), (ncc_coarse, _) = self._image_agreement(query, best.pose, coarse, color)
            except (RuntimeError, ValueError):  # no render: the solver's numbers alone
                ncc_refined = ncc_coarse = spread = float("nan")
        variant = variant_for(cfg.relative, bool(np.isfinite(ncc_refined)))
        focal = focal_fitted = rms_fitted = float("nan")
        if best.inlier_points is not None and best.solve_K is not None:  # the absolute step's inliers
            focal = float(best.solve_K[0, 0])
            focal_fitted, rms_fitted = focal_fit(best.inlier_points, best.inlier_kpts, best.solve_K, query.camera.size)
        features = pose_features(best.num_inliers, best.inlier_ratio, best.reproj_error, cfg.ransac_px,
                                 best.inlier_kpts, query.camera.size, float(rot), float(trans),
                                 float(np.median(valid)) if len(valid) else 0.0, ncc_refined, ncc_coarse,
                                 focal, focal_fitted, best.reproj_rms, rms_fitted, spread)  # fmt: skip
        # Signed, for the run-level check of the intrinsics (gscpr.refine.intrinsics): one query's fit is noisy,
        # the same sign and size over many queries of one camera is not. A fit that ends with a larger RMS than the
        # solved pose's did not converge (freeing the focal length can only lower it; the margin covers the fit's
        # subsample): its focal length (seen 1e6 x or 5 % off, either sign) says nothing and is not recorded.
        converged = rms_fitted <= FIT_RMS_MARGIN * best.reproj_rms
        ratio = math.log(focal_fitted / focal) if focal_fitted > 0 and focal > 0 and converged else None
        model = load_confidence_model(variant, cfg.confidence_model)
        confidence = model.predict(features)
        threshold = cfg.min_confidence if cfg.min_confidence is not None else float(model.fit["threshold"])
        result.timings["verify"] = result.timings.get("verify", 0.0) + time.perf_counter() - t0
        result.confidence = round(confidence, 4)
        # Recorded beside the features for the run-level check of the intrinsics, not read by the confidence.
        result.verify = {"variant": variant, **features, "focal_log_ratio": ratio}
        if confidence < threshold:
            why = f"verification: confidence {_below(confidence, threshold)}"
            result.message = "; ".join(m for m in (result.message, why) if m)
            result.status = Status.UNVERIFIED
            result.pose = best.pose if cfg.keep_unverified else coarse
            result.solved = None if cfg.keep_unverified else best.pose
        return result

    def _image_agreement(
        self, query: QueryImage, refined: np.ndarray, coarse: np.ndarray, color
    ) -> list[tuple[float, float]]:
        """:func:`~.verify.image_agreement` (gradient NCC and its local spread) of the query against renders at the
        refined and the coarse pose, both made small (``verify_scale``) in one render call and compared on the
        device (no map goes to the host)."""
        cfg = self.config
        cam = query.render_camera.scaled(cfg.verify_scale)
        q = query.for_matching
        q = downsample(q.float() / 255.0 if q.dtype == torch.uint8 else q, *cam.size)
        # A distorted query is compared with the (pinhole) renders once resampled to their camera.
        q, inside = to_pinhole(q, query.camera.resized(*cam.size))
        with torch.inference_mode():
            out = render(self.model, cam, np.stack([refined, coarse]), background=cfg.background, backend=cfg.backend,
                         **cfg.render_options())  # fmt: skip
        rgb = torch.stack([color(out.rgb[i]) for i in range(2)]) if color is not None else out.rgb
        mask = out.alpha > 0.5 if inside is None else (out.alpha > 0.5) & inside.to(out.alpha.device)
        return image_agreement(rgb, q, mask)

    def _pass(
        self,
        query: QueryImage,
        pose: np.ndarray,
        camera: Camera,
        timings: dict[str, float],
        render: Render | None = None,
        matches: Matches | None = None,
        color: Callable | None = None,
    ) -> Pass:
        """Render at ``pose`` with ``camera`` (unless ``render`` is given; ``color`` applied), match, solve."""
        if render is None:
            if self.model is None:
                return Pass(Status.RENDER_FAILED, message="no scene model to render and no render given")
            t0 = time.perf_counter()
            try:
                with self.gpu:
                    render = render_at(self.model, camera, pose, self.config)
                    if color is not None:
                        render = replace(render, rgb=color(render.rgb))
            except (RuntimeError, ValueError) as e:
                return Pass(Status.RENDER_FAILED, message=str(e))
            timings["render"] += time.perf_counter() - t0
        matches, message = match_render(self.matcher, render, query, self.config, matches, self.gpu, timings)
        # A solver of pointmaps (GS-CPR_rel as published) does not use the matches: their number is no test.
        if len(matches) < self.config.min_matches and getattr(self.solver, "inputs", "") != "pointmaps":
            p = Pass(Status.TOO_FEW_MATCHES, message=message)
        else:
            p = self.step(matches, render, query, pose, self.solver, self.config, timings)
        p.matches, p.num_matches, p.render_rgb, p.render = matches, len(matches), render.rgb, render
        return p

    def _recover(
        self, query: QueryImage, coarse: np.ndarray, failed: Pass, timings: dict, color: Callable | None = None
    ) -> tuple[Pass, str]:
        """:attr:`RefineConfig.recovery`: one pass at the coarse pose with each recovery camera, the one with the
        most inliers kept; ``failed`` (the first pass) when none gives a pose."""
        best, how = None, ""
        for canvas, focal in self.config.recovery:
            p = self._pass(query, coarse, recovery_camera(query.render_camera, canvas, focal), timings, color=color)
            if p.ok and (best is None or p.num_inliers > best.num_inliers):
                best, how = p, f"canvas x{canvas:g}, focal x{focal:g}"
        if best is None:
            return failed, "; ".join(m for m in (failed.message, "no recovery render gave a pose") if m)
        return best, f"recovered with a render of {how} at the coarse pose"

    @staticmethod
    def _result(
        coarse: np.ndarray, p: Pass, timings: dict, passes: int, confirmed: bool | None, message: str
    ) -> RefineResult:
        return RefineResult(
            pose=p.pose if p.ok else coarse, coarse=coarse, status=p.status, num_matches=p.num_matches,
            num_lifted=p.num_lifted, num_inliers=p.num_inliers, inlier_ratio=p.inlier_ratio,
            reproj_error=p.reproj_error, iterations=passes, confirmed=confirmed, timings=timings, message=message,
            matches=p.matches, render_rgb=p.render_rgb, ransac_iterations=p.ransac_iterations,
        )  # fmt: skip


def refine_query(
    model, query_image, query_camera: Camera, coarse_pose: np.ndarray, matcher: Matcher, cfg: RefineConfig | None = None
) -> RefineResult:
    """Refine one query's coarse w2c pose ``[4, 4]`` (GS-CPR): ``Refiner(model, matcher, cfg).refine(...)``.

    ``query_image`` is RGB ``[H, W, 3]`` at ``query_camera``'s size; see :class:`Refiner` for renders already made,
    precomputed matches and threads.
    """
    return Refiner(model, matcher, cfg).refine(query_image, query_camera, coarse_pose)


def refine_relative(
    model, query_image, query_camera: Camera, coarse_pose: np.ndarray, matcher: Matcher, cfg: RefineConfig | None = None
) -> RefineResult:
    """GS-CPR_rel: :func:`refine_query` with the relative pose step (``cfg.relative`` set)."""
    cfg = replace(cfg or RefineConfig(), relative=True)
    return Refiner(model, matcher, cfg).refine(query_image, query_camera, coarse_pose)


def _below(value: float, threshold: float) -> str:
    """``"0.05 < 0.32"``: ``value < threshold`` with the fewest decimals (2 to 6) that tell them apart, so a
    confidence just under its threshold never reads ``1.00 < 1.00``."""
    for digits in range(2, 7):
        a, b = f"{value:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b:
            return f"{a} < {b}"
    return f"{value!r} < {threshold!r}"
