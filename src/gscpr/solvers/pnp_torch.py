"""PnP-RANSAC with hypotheses generated and scored in batches with torch (on the GPU when there is one).

At low inlier ratios a CPU RANSAC spends its time on thousands of hypotheses, one after the other (PoseLib: 17-62 ms
at inlier ratios 0.04-0.2 on real 1080p queries). Here a chunk of minimal samples (thousands at once) goes through a
batched P3P solver and every resulting pose is scored against every correspondence in one pass; the device is
synchronised with the host once per chunk. The best pose of each chunk is locally optimised on the host (LO-RANSAC,
Chum et al. 2003) with PoseLib's non-linear refinement, and the final pose is refined on its inliers as PoseLib's
``estimate_absolute_pose`` does, so that the two solvers agree where both find the pose.

Algorithm
---------
1. Pixels become unit bearing vectors of the pinhole ``camera`` (OpenCV pixel-index convention,
   :mod:`gscpr.camera`); world points are centred on their mean (for float32 scoring).
2. Per chunk: ``S`` minimal samples of 3 distinct correspondences, drawn from a seeded :class:`torch.Generator`;
   :func:`p3p` gives up to 4 poses per sample (``4 S`` hypotheses, invalid ones flagged, never NaN).
3. Every hypothesis is scored against all ``N`` correspondences: MSAC's truncated squared reprojection error
   ``sum_i min(e_i^2, tau^2)``, points at non-positive depth counting ``tau^2`` (Torr & Zisserman 2000).
4. The chunk's best pose, if it beats the best so far, is refined on its inliers with PoseLib's truncated-loss
   refinement and re-scored on all points, ``lo_steps`` times while the score improves (local optimisation).
5. RANSAC's adaptive stopping rule: stop once ``k >= log(1 - confidence) / log(1 - w^3)`` samples are drawn
   (``w`` the best pose's inlier ratio), within ``[min_iterations, max_iterations]``; the last chunk is cut to
   what the rule still asks for.
6. The best pose is refined on its inliers (PoseLib's ``refine_absolute_pose``, Cauchy loss of scale half the
   threshold unless ``backend["bundle"]`` says otherwise), as ``poselib.estimate_absolute_pose`` does after its
   RANSAC.

P3P
---
Grunert's solution (1841) in the form reviewed by Haralick, Lee, Ottenberg and Noelle, "Review and analysis of
solutions of the three point perspective pose estimation problem", IJCV 13(3), 1994 (section 2.1): with the ratios
``u = s2 / s1`` and ``v = s3 / s1`` of the distances along the rays, the law of cosines for the three sides of the
world triangle gives a quartic in ``v``. It is solved here in closed form (Ferrari's method in real arithmetic, every
branch computed for the whole batch and selected with masks) and each real root is polished by two Newton steps;
the camera-frame points follow, and the rotation is the one that maps the world triangle's orthonormal frame onto
the camera triangle's (exact for three points, the minimal case of Kabsch's alignment).

Backend options (:attr:`SolverOptions.backend`)
-----------------------------------------------
``device``: torch device of the hypotheses (default :attr:`SolverOptions.device`, which refinement sets to its
matcher's; else ``cuda`` when available, else ``cpu``).
``chunk``: minimal samples per chunk (default 16384 on CUDA: inlier ratios down to 0.085 in one chunk at confidence
0.9999; 256 on the CPU, where time grows with the hypotheses drawn).
``lo_steps``: local-optimisation rounds per new best pose (default 2; 0: none).
``lo_points``: at most this many of the inliers, evenly spread, are refined on in a local-optimisation round
(default 256: its cost grows with them and a few hundred fix the pose as well; the final refinement takes all).
``min_inliers``: fewer inliers than this is no pose (default 6: a P3P pose always fits its own 3 points).
``compile``: compile the chunk (P3P and scoring) with ``torch.compile`` on CUDA (default ``True``; the first call
in a process pays the compilation, tens of seconds).
``bundle``: PoseLib bundle options of the final refinement (``{"loss_type": "CAUCHY", "loss_scale": threshold / 2,
"step_tol": 1e-6}`` merged under it: PoseLib's own loss; the step tolerance looser than its 1e-8, since the final
refinement starts from a locally optimised pose and PoseLib's spends about 4 more iterations, a third of its time,
on changes under 1e-6: 2,000 inliers 3.8 -> 2.0 ms on the CPU, the pose within 1e-6).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from ..camera import Camera
from ..geometry import make_pose
from .base import AbsolutePoseSolver, Estimate, SolverOptions
from .pnp_poselib import poselib_camera

__all__ = ["TorchRansacPnP", "p3p", "sample_triplets"]


def sample_triplets(n: int, count: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``count`` uniform samples of 3 distinct indices in ``[0, n)``: ``[count, 3]`` int64 (``n >= 3``).

    Drawn without rejection: the second index from ``n - 1`` values and the third from ``n - 2``, shifted past the
    ones already taken."""
    i = torch.randint(0, n, (count,), generator=generator, device=device)
    j = torch.randint(0, n - 1, (count,), generator=generator, device=device)
    k = torch.randint(0, n - 2, (count,), generator=generator, device=device)
    j = j + (j >= i)
    lo, hi = torch.minimum(i, j), torch.maximum(i, j)
    k = k + (k >= lo)
    k = k + (k >= hi)
    return torch.stack([i, j, k], dim=1)


def _largest_real_cubic_root(b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """The largest real root of ``m^3 + b m^2 + c m + d`` (real inputs ``[...]``): Cardano's formula where there is
    one real root, Viete's trigonometric form where there are three; one Newton step to polish it."""
    p = c - b * b / 3
    q = 2 * b**3 / 27 - b * c / 3 + d
    disc = q * q / 4 + p**3 / 27
    root_disc = torch.sqrt(disc.clamp_min(0))
    one = torch.sign(-q / 2 + root_disc) * (-q / 2 + root_disc).abs().pow(1 / 3) + torch.sign(-q / 2 - root_disc) * (
        -q / 2 - root_disc
    ).abs().pow(1 / 3)
    neg_p = (-p).clamp_min(1e-300)
    cos_arg = (1.5 * q / p.clamp_max(-1e-300) * torch.sqrt(3 / neg_p)).clamp(-1, 1)
    three = 2 * torch.sqrt(neg_p / 3) * torch.cos(torch.acos(cos_arg) / 3)
    m = torch.where(disc > 0, one, three) - b / 3
    f = ((m + b) * m + c) * m + d
    df = (3 * m + 2 * b) * m + c
    return m - torch.where(df.abs() > 1e-300, f / torch.where(df.abs() > 1e-300, df, 1.0), 0.0)


def _real_quartic_roots(coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real roots of quartics ``coeffs [..., 5]`` (highest degree first, float64): ``(roots [..., 4], real [..., 4])``.

    Ferrari's method in real arithmetic (no branch per polynomial): the resolvent cubic has a non-negative real
    root, which splits the depressed quartic into two real quadratics; then two Newton steps on each root. A leading
    coefficient of (relatively) zero gives no root."""
    lead = coeffs[..., 0]
    ok = lead.abs() > 1e-12 * coeffs.abs().amax(-1)
    c = coeffs / torch.where(ok, lead, 1.0)[..., None]
    a, b, cc, d = c[..., 1], c[..., 2], c[..., 3], c[..., 4]
    # Depressed quartic y^4 + p y^2 + q y + r with x = y - a / 4.
    p = b - 3 * a * a / 8
    q = cc - a * b / 2 + a**3 / 8
    r = d - a * cc / 4 + a * a * b / 16 - 3 * a**4 / 256
    # (y^2 + p/2 + m)^2 = (s y - q / (2 s))^2 with s = sqrt(2 m) when 8m^3 + 8p m^2 + (2p^2 - 8r) m - q^2 = 0,
    # a cubic that is -q^2 <= 0 at m = 0: its largest root is >= 0.
    m = _largest_real_cubic_root(p, p * p / 4 - r, -q * q / 8).clamp_min(0)
    s = torch.sqrt(2 * m)
    q_over_s = torch.where(s > 1e-150, q / torch.where(s > 1e-150, s, 1.0), 0.0)
    roots, real = [], []
    for sigma in (1.0, -1.0):  # y^2 - sigma s y + (p/2 + m + sigma q / (2 s)) = 0
        disc = -2 * p - 2 * m - 2 * sigma * q_over_s
        root_disc = torch.sqrt(disc.clamp_min(0))
        for pm in (1.0, -1.0):
            roots.append((sigma * s + pm * root_disc) / 2 - a / 4)
            real.append(ok & (disc >= -1e-9 * (1 + p.abs() + m.abs())))
    x, real = torch.stack(roots, dim=-1), torch.stack(real, dim=-1)
    cr = c[..., None, :]  # Newton polish on the (monic) polynomial
    for _ in range(2):
        f = (((x + cr[..., 1]) * x + cr[..., 2]) * x + cr[..., 3]) * x + cr[..., 4]
        df = ((4 * x + 3 * cr[..., 1]) * x + 2 * cr[..., 2]) * x + cr[..., 3]
        x = x - torch.where(df.abs() > 1e-12, f / torch.where(df.abs() > 1e-12, df, 1.0), 0.0)
    return torch.nan_to_num(x), real & torch.isfinite(x)


def _triangle_frame(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal frames ``[..., 3, 3]`` (columns: first edge, in-plane normal, plane normal) of triangles
    ``p [..., 3, 3]`` (rows: vertices), and the sine of the angle at the first vertex ``[...]``."""
    e1, e2 = p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :]
    n = torch.linalg.cross(e1, e2)
    n1, n2, nn = e1.norm(dim=-1), e2.norm(dim=-1), n.norm(dim=-1)
    sine = nn / (n1 * n2).clamp_min(1e-300)
    x = e1 / n1.clamp_min(1e-300)[..., None]
    z = n / nn.clamp_min(1e-300)[..., None]
    return torch.stack([x, torch.linalg.cross(z, x), z], dim=-1), sine


def p3p(
    rays: torch.Tensor, points: torch.Tensor, eps: float = 1e-7, side_tol: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Poses from minimal samples: Grunert's P3P (Haralick et al. 1994, see the module docstring).

    Args:
        rays: ``[S, 3, 3]`` unit bearing vectors (rows) of three pixels each, camera frame (OpenCV axes).
        points: ``[S, 3, 3]`` their world points (rows).
        eps: degeneracy tolerance (sine of the world triangle's and the rays' angles, relative sizes).
        side_tol: largest error of a solution's squared triangle sides, relative to the longest.

    Returns:
        ``R [S, 4, 3, 3]``, ``t [S, 4, 3]`` (float64, w2c: ``x_cam = R x_world + t``) and ``valid [S, 4]``: up to
        four solutions per sample; invalid slots (complex roots, negative depths, collinear or coincident points,
        coplanar rays) hold the identity and zero, never NaN.
    """
    rays, points = rays.double(), points.double()
    x1, x2, x3 = points[:, 0], points[:, 1], points[:, 2]
    a2 = (x2 - x3).square().sum(-1)  # squared sides opposite each vertex
    b2 = (x1 - x3).square().sum(-1)
    c2 = (x1 - x2).square().sum(-1)
    cos_a = (rays[:, 1] * rays[:, 2]).sum(-1)  # angle between rays 2 and 3
    cos_b = (rays[:, 0] * rays[:, 2]).sum(-1)
    cos_g = (rays[:, 0] * rays[:, 1]).sum(-1)
    _, sine = _triangle_frame(points)
    scale = torch.maximum(torch.maximum(a2, b2), c2)
    ok = (
        (sine > eps)
        & (b2 > eps * scale)
        & ((rays[:, 0] * torch.linalg.cross(rays[:, 1], rays[:, 2])).sum(-1).abs() > eps)
    )
    b2s = torch.where(ok, b2, torch.ones_like(b2))
    amc, apc = (a2 - c2) / b2s, (a2 + c2) / b2s
    A4 = (amc - 1) ** 2 - 4 * c2 / b2s * cos_a**2
    A3 = 4 * (amc * (1 - amc) * cos_b - (1 - apc) * cos_a * cos_g + 2 * c2 / b2s * cos_a**2 * cos_b)
    A2 = 2 * (amc**2 - 1 + 2 * amc**2 * cos_b**2 + 2 * (b2s - c2) / b2s * cos_a**2
              - 4 * apc * cos_a * cos_b * cos_g + 2 * (b2s - a2) / b2s * cos_g**2)  # fmt: skip
    A1 = 4 * (-amc * (1 + amc) * cos_b + 2 * a2 / b2s * cos_g**2 * cos_b - (1 - apc) * cos_a * cos_g)
    A0 = (1 + amc) ** 2 - 4 * a2 / b2s * cos_g**2
    v, real = _real_quartic_roots(torch.stack([A4, A3, A2, A1, A0], dim=-1))
    ca, cb, cg, amc = cos_a[:, None], cos_b[:, None], cos_g[:, None], amc[:, None]
    den = 2 * (cg - v * ca)
    den_ok = den.abs() > eps
    u = ((amc - 1) * v * v - 2 * amc * cb * v + 1 + amc) / torch.where(den_ok, den, torch.ones_like(den))
    q = 1 + v * v - 2 * v * cb
    s1 = torch.sqrt((b2[:, None] / q.clamp_min(1e-300)).clamp_min(0))
    valid = ok[:, None] & real & den_ok & (u > 0) & (v > 0) & (q > 0) & torch.isfinite(s1 * u)
    depth = torch.stack([s1, u * s1, v * s1], dim=-1)  # [S, 4, 3]
    cam = depth[..., None] * rays[:, None]  # [S, 4, 3 points, 3]
    # A root made real from a complex pair (or one Newton moved) leaves sides that do not match the world's.
    sides = torch.stack([a2, b2, c2], dim=-1)[:, None]
    cam_sides = torch.stack([(cam[..., 1, :] - cam[..., 2, :]).square().sum(-1),
                             (cam[..., 0, :] - cam[..., 2, :]).square().sum(-1),
                             (cam[..., 0, :] - cam[..., 1, :]).square().sum(-1)], dim=-1)  # fmt: skip
    valid = valid & ((cam_sides - sides).abs() <= side_tol * scale[:, None, None]).all(-1)
    f_cam, _ = _triangle_frame(cam)
    f_world, _ = _triangle_frame(points)
    # Products of 3x3 matrices written out as sums (tiny batched matmuls are slow kernels on the GPU).
    R = (f_cam[..., :, None, :] * f_world[:, None, None, :, :]).sum(-1)  # f_cam f_world^T
    t = cam[:, :, 0] - (R * x1[:, None, None, :]).sum(-1)
    valid = valid & torch.isfinite(R).flatten(-2).all(-1) & torch.isfinite(t).all(-1)
    eye = torch.eye(3, dtype=R.dtype, device=R.device).expand_as(R)
    return torch.where(valid[..., None, None], R, eye), torch.where(valid[..., None], t, 0.0), valid


def _msac_scores(R, t, valid, X, uv, K, tau2, fused: bool = False):
    """MSAC scores ``[H]`` of poses ``R [H, 3, 3]``, ``t [H, 3]`` on points ``X [N, 3]`` seen at ``uv [N, 2]``
    (``K [4]``: fx, fy, cx, cy; ``tau2``: squared threshold, px^2); invalid poses score ``inf``.

    ``fused``: written point by point, so that a compiler fuses it into one pass over ``[H, N]`` without
    intermediate tensors; otherwise one matrix product and in-place steps (faster uncompiled, e.g. on the CPU)."""
    if fused:
        x, y, z = X[None, :, 0], X[None, :, 1], X[None, :, 2]
        px = R[:, 0, 0, None] * x + R[:, 0, 1, None] * y + R[:, 0, 2, None] * z + t[:, 0, None]
        py = R[:, 1, 0, None] * x + R[:, 1, 1, None] * y + R[:, 1, 2, None] * z + t[:, 1, None]
        pz = R[:, 2, 0, None] * x + R[:, 2, 1, None] * y + R[:, 2, 2, None] * z + t[:, 2, None]
        inv = 1 / pz.clamp_min(1e-12)
        e = (K[0] * px * inv + K[2] - uv[None, :, 0]).square() + (K[1] * py * inv + K[3] - uv[None, :, 1]).square()
        e = torch.where(pz > 0, e.clamp_max(tau2), tau2)
        return torch.where(valid, e.sum(1), torch.inf)
    pc = torch.matmul(R, X.T).add_(t[:, :, None])  # [H, 3, N]
    pz = pc[:, 2]
    front = pz > 0
    inv = pz.clamp_min(1e-12).reciprocal_()
    e = pc[:, 0].mul_(inv).mul_(K[0]).add_(K[2] - uv[:, 0]).square_()
    e += pc[:, 1].mul_(inv).mul_(K[1]).add_(K[3] - uv[:, 1]).square_()
    e = torch.where(front, e.clamp_max_(tau2), tau2)
    return torch.where(valid, e.sum(1), torch.inf)


def _chunk(rays, X64, X32, uv, idx, K, tau2, fused: bool = False):
    """One chunk of RANSAC on the device: P3P on the minimal samples ``idx [S, 3]``, every pose scored, and the
    best one packed as ``[13]`` float64 (R row-major, t in the centred frame, valid flag)."""
    R, t, valid = p3p(rays[idx], X64[idx])
    R, t, valid = R.flatten(0, 1), t.flatten(0, 1), valid.flatten()
    scores = _msac_scores(R.float(), t.float(), valid, X32, uv, K, tau2, fused)
    i = scores.argmin().reshape(1)  # a tensor index, not a Python number: no graph break, no sync
    return torch.cat([R[i].flatten(), t[i].flatten(), valid[i].double()])


_COMPILED: dict = {}


def _chunk_fn(device: torch.device, compile_: bool):
    """:func:`_chunk`, compiled with ``torch.compile`` for CUDA devices when ``compile_`` (a few hundred small
    kernels in eager mode, launch-bound; a few fused ones compiled, once per process and any shape)."""
    if not (compile_ and device.type == "cuda"):
        return _chunk
    if "cuda" not in _COMPILED:
        _COMPILED["cuda"] = functools.partial(torch.compile(_chunk, dynamic=True), fused=True)
    return _COMPILED["cuda"]


def _collinear(points: np.ndarray, tol: float = 1e-9) -> bool:
    """Whether ``points [N, D]`` lie on one line (or one point), by the singular values of the centred points."""
    sv = np.linalg.svd(points - points.mean(0), compute_uv=False)
    return bool(sv[1] <= tol * sv[0]) if sv[0] > 0 else True


def _spread(mask: np.ndarray, most: int) -> np.ndarray:
    """``mask [N]`` (bool) with at most ``most`` of its set entries kept, evenly spaced in index order."""
    idx = np.flatnonzero(mask)
    if len(idx) <= most:
        return mask
    out = np.zeros_like(mask)
    out[idx[np.linspace(0, len(idx) - 1, most).round().astype(int)]] = True
    return out


class _HostScorer:
    """MSAC scores and inliers of single poses on the host (float64), and PoseLib's refinement."""

    def __init__(self, points2d, points3d, camera: Camera, threshold: float):
        self.p2d, self.p3d, self.tau2, self.camera = points2d, points3d, threshold * threshold, camera
        self.K = (camera.fx, camera.fy, camera.cx, camera.cy)
        self.cam = poselib_camera(camera)

    def errors(self, R, t):
        pc = self.p3d @ R.T + t
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.sum((self.camera.project(pc) - self.p2d) ** 2, axis=1)
        return np.where((pc[:, 2] > 0) & np.isfinite(e), e, np.inf)

    def score(self, R, t) -> tuple[float, np.ndarray]:
        e = self.errors(R, t)
        return float(np.minimum(e, self.tau2).sum()), e < self.tau2

    def refine(self, R, t, mask, bundle: dict):
        import poselib

        pose = poselib.CameraPose()
        pose.R, pose.t = R, t
        pose, _ = poselib.refine_absolute_pose(self.p2d[mask], self.p3d[mask], pose, self.cam, bundle)
        return np.asarray(pose.R), np.asarray(pose.t)


class TorchRansacPnP(AbsolutePoseSolver):
    """PnP-RANSAC with batched P3P hypotheses scored on a torch device, LO and final refinement by PoseLib.

    ``info``: ``iterations`` (minimal samples drawn), ``chunks``, ``refinements`` (LO rounds), ``num_inliers``,
    ``inlier_ratio``, ``model_score`` (MSAC, px^2, of the pose before the final refinement), ``device``."""

    name = "gpu-ransac"
    # Hypotheses are cheap in batches: a bound that lets the adaptive rule reach inlier ratios down to 0.045
    # (101,000 samples for confidence 0.9999) rather than the 0.1 of PoseLib's 10,000 in the project's defaults.
    defaults = {"max_iterations": 100_000, "min_iterations": 0, "confidence": 0.9999}

    def _solve(self, points2d: np.ndarray, points3d: np.ndarray, camera: Camera, options: SolverOptions):
        n = len(points2d)
        backend = dict(options.backend)
        default = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(backend.get("device") or options.device or default)
        chunk = int(backend.get("chunk") or (16384 if device.type == "cuda" else 256))
        lo_steps = int(backend.get("lo_steps", 2))
        lo_points = max(int(backend.get("lo_points", 256)), 8)
        min_inliers = max(int(backend.get("min_inliers", 6)), 4)
        if n < max(min_inliers, 4) or not (np.isfinite(points2d).all() and np.isfinite(points3d).all()):
            return None
        if _collinear(points3d) or _collinear(points2d):  # no minimal sample can give a pose: do not draw any
            return None
        host = _HostScorer(points2d, points3d, camera, options.threshold_px)
        lo_bundle = {"loss_type": "TRUNCATED", "loss_scale": options.threshold_px, "max_iterations": 25}

        # Device data: bearings (float64, for P3P) and centred world points (float32, for scoring).
        centre = points3d.mean(0)
        rays = camera.unproject(points2d, np.ones(n))
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        table = np.zeros((n + 1, 8))  # one host-to-device copy: rays, centred points, pixels; K and tau^2
        table[:n] = np.hstack([rays, points3d - centre, points2d])
        table[n, :5] = [*host.K, options.threshold_px**2]
        data = torch.as_tensor(table, device=device)
        rays_d, X64 = data[:n, :3], data[:n, 3:6]
        X32, uv32 = X64.float(), data[:n, 6:].float()
        K, tau2 = data[n, :4].float(), data[n, 4].float()
        generator = torch.Generator(device=device).manual_seed(int(options.seed))
        chunk_fn = _chunk_fn(device, bool(backend.get("compile", True)))

        best = None  # (score, R, t, inliers) on the host, world frame
        done = chunks = refinements = 0
        needed = options.max_iterations  # until a pose says how many samples the stopping rule asks for
        log_fail = math.log(max(1 - options.confidence, 1e-300))
        while done < min(max(needed, options.min_iterations), options.max_iterations):
            size = min(chunk, max(needed, options.min_iterations) - done, options.max_iterations - done)
            idx = sample_triplets(n, size, generator, device)
            try:
                packed = chunk_fn(rays_d, X64, X32, uv32, idx, K, tau2).cpu().numpy()  # the one sync per chunk
            except Exception as exc:  # a compiler that fails here (no Triton, ...) leaves the eager path
                if chunk_fn is _chunk:
                    raise
                warnings.warn(f"gpu-ransac: torch.compile failed ({exc}); running uncompiled", stacklevel=2)
                _COMPILED["cuda"] = chunk_fn = _chunk
                packed = chunk_fn(rays_d, X64, X32, uv32, idx, K, tau2).cpu().numpy()
            done, chunks = done + size, chunks + 1
            if packed[12] > 0:
                Rb, tb = packed[:9].reshape(3, 3), packed[9:12] - packed[:9].reshape(3, 3) @ centre
                score, inl = host.score(Rb, tb)
                if best is None or score < best[0]:
                    best = (score, Rb, tb, inl)
                    for _ in range(lo_steps):  # local optimisation while it improves the score
                        if best[3].sum() < 4:
                            break
                        R2, t2 = host.refine(best[1], best[2], _spread(best[3], lo_points), lo_bundle)  # inliers
                        refinements += 1
                        s2, inl2 = host.score(R2, t2)
                        if not s2 < best[0]:
                            break
                        best = (s2, R2, t2, inl2)
            if best is not None:
                w = best[3].sum() / n
                needed = 0 if w >= 1 else math.ceil(log_fail / math.log1p(-(w**3))) if w > 0 else options.max_iterations
        if best is None or best[3].sum() < min_inliers:
            return None
        _, R, t, inliers = best
        # poselib.estimate_absolute_pose's own loss (Cauchy, half the threshold); the step tolerance: see "bundle".
        bundle = {"loss_type": "CAUCHY", "loss_scale": 0.5 * options.threshold_px, "step_tol": 1e-6,
                  **backend.get("bundle", {})}  # fmt: skip
        R, t = host.refine(R, t, inliers, bundle)
        info = {"iterations": done, "chunks": chunks, "refinements": refinements,
                "num_inliers": int(inliers.sum()), "inlier_ratio": float(inliers.mean()),
                "model_score": float(best[0]), "device": str(device)}  # fmt: skip
        return Estimate(make_pose(R, t), inliers, info)
