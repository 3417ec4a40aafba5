"""What every training run shares: the step loop with its logs, evaluations and checkpoints (:class:`TrainLoop`),
the training views and how they are read from dataset frames, losses and metrics, and the initialisation.

A trainer (:mod:`gscpr.training.gaussians` for 3DGS, :mod:`gscpr.training.scaffold` for Scaffold-GS)
subclasses :class:`TrainLoop`. It rasterizes with gsplat on CUDA and with the PyTorch reference elsewhere
(:func:`gscpr.splat.render.rasterize_gaussians`).

Outputs in ``out_dir`` (the Inria layout, so that other 3DGS tools read them): the trainer's model at
``point_cloud/iteration_<N>/``, ``ckpt_<N>.pt`` (resume), ``config.json``, ``train_log.csv`` (loss, training
PSNR, model size, seconds) and ``eval.csv`` (test PSNR / SSIM at the eval steps).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..camera import Camera
from ..data.frame import DatasetError
from ..data.images import load_rgb, size_mismatch, to_uint8
from ..outputs import atomic_path, naming, write_json
from ..splat.render import resolve_backend

__all__ = [
    "MAX_SIZE",
    "RunConfig",
    "TrainLoop",
    "TrainView",
    "init_points_random",
    "knn_scales",
    "load_masks",
    "load_views",
    "psnr",
    "scene_centre_and_radius",
    "ssim",
    "view_tensors",
]

MAX_SIZE = 1600  # images are downscaled to this long side (3DGS's default)


@dataclass
class RunConfig:
    """What every training run has: its background, when it evaluates, saves and logs, and its seed."""

    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    eval_steps: tuple[int, ...] = (7000, 30_000)
    save_steps: tuple[int, ...] = (7000, 30_000)
    log_every: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        self.background = tuple(float(v) for v in self.background)
        self.eval_steps, self.save_steps = tuple(self.eval_steps), tuple(self.save_steps)


@dataclass
class TrainView:
    """One training or test image: RGB ``[H, W, 3]`` uint8 or float in [0, 1], its pinhole camera, w2c pose."""

    image: np.ndarray
    camera: Camera
    pose: np.ndarray
    name: str = ""


# ----------------------------------------------------------------------------- losses and metrics
def _gauss1d(size: int = 11, sigma: float = 1.5, device=None) -> Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM of images ``[B, H, W, C]`` in [0, 1] (11x11 Gaussian window, sigma 1.5, 'same' padding)."""
    x, y = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
    C = x.shape[1]
    g = _gauss1d(device=x.device)
    wx, wy = g.view(1, 1, 1, 11).expand(C, 1, 1, 11), g.view(1, 1, 11, 1).expand(C, 1, 11, 1)

    def blur(t: Tensor) -> Tensor:  # separable: two 1-D passes instead of one 11x11
        return F.conv2d(F.conv2d(t, wx, padding=(0, 5), groups=C), wy, padding=(5, 0), groups=C)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))).mean()


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB of two images in [0, 1]."""
    return float(-10 * torch.log10(F.mse_loss(a, b).clamp_min(1e-12)))


# ----------------------------------------------------------------------------- initialisation
def knn_scales(xyz: Tensor, k: int = 3, chunk: int = 2048) -> Tensor:
    """Mean distance of each point ``[N, 3]`` to its ``k`` nearest neighbours (the 3DGS initial scale)."""
    out = torch.empty(len(xyz), device=xyz.device)
    for i in range(0, len(xyz), chunk):
        d = torch.cdist(xyz[i : i + chunk], xyz)
        out[i : i + chunk] = d.topk(min(k + 1, len(xyz)), largest=False).values[:, 1:].mean(1)
    return out.clamp_min(1e-7)


def scene_centre_and_radius(poses_w2c: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Where the cameras look and how big the scene is.

    Returns ``(centre [3], radius, inward)``. For inward-facing captures (objects, turntables) ``centre`` is the
    point closest to every optical axis and ``radius`` the median camera distance to it; otherwise the mean
    camera centre and the largest camera distance from it (the 3DGS "cameras extent").
    """
    R, t = poses_w2c[:, :3, :3], poses_w2c[:, :3, 3]
    centres = -np.einsum("nji,nj->ni", R, t)
    dirs = R[:, 2, :]  # optical axes in the world (third row of R)
    # Least squares for the point nearest all axes: sum (I - d d^T) (p - c) = 0.
    A = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]
    try:
        focus = np.linalg.solve(A.sum(0), np.einsum("nij,nj->i", A, centres))
        depth = np.einsum("ni,ni->n", focus - centres, dirs)
        inward = bool(np.mean(depth > 0) > 0.9) and len(poses_w2c) >= 3
    except np.linalg.LinAlgError:
        inward = False
    if inward:
        return focus, float(np.median(np.linalg.norm(centres - focus, axis=1))), True
    mean = centres.mean(0)
    return mean, float(np.linalg.norm(centres - mean, axis=1).max()), False


def init_points_random(poses_w2c: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random points with random colours where the scene should be.

    Inward-facing captures: three quarters in a cube of half-side 0.35 x the camera distance around the point
    the cameras look at (NeRF-synthetic: about the 3DGS paper's [-1.3, 1.3]^3), the rest in a cube of 3 x that
    distance for the background of real captures (on a plain background they fade and are pruned). Other
    captures: a cube of 3 x the cameras' extent (gsplat's random init).
    """
    centre, radius, inward = scene_centre_and_radius(poses_w2c)
    n_inner = 3 * n // 4 if inward else 0
    half = np.repeat([0.35 * radius, 3.0 * radius], [n_inner, n - n_inner])[:, None]
    return centre + rng.uniform(-1.0, 1.0, size=(n, 3)) * half, rng.uniform(size=(n, 3))


# ----------------------------------------------------------------------------- the loop every trainer shares
class TrainLoop:
    """The step loop, logs, evaluation and checkpoint schedule shared by the 3DGS and Scaffold-GS trainers.

    A subclass calls :meth:`start` first (it sets ``cfg``, ``out``, ``device``, ``views``, ``step``, ``seconds``,
    ``rng``, ``scene_scale``, the views as tensors and ``backend``, the rasterizer every trainer passes to
    :func:`gscpr.splat.render.rasterize_gaussians`), and implements :meth:`train_step` (returning ``loss``,
    ``l1`` and ``mse`` tensors), :meth:`render_view`, :meth:`model_size`, :meth:`save` and ``resume``.
    """

    cfg: RunConfig
    out: Path
    device: torch.device
    step: int
    seconds: float
    rng: np.random.Generator

    def start(
        self,
        cfg: RunConfig,
        views: list[TrainView],
        out_dir: str | Path,
        init: tuple[np.ndarray, np.ndarray] | None,
        device: str | torch.device,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The set-up every run shares: seeds, the scene scale, the views on the device (images as uint8:
        100 800x800 views are 190 MB; ``viewmats``, ``Ks``, ``bg``). Returns ``init``, or random points
        where the cameras look (``cfg.init_points``) when it is None."""
        if not views:
            raise ValueError("no training views")
        self.cfg, self.out, self.device = cfg, Path(out_dir), torch.device(device)
        self.views, self.step, self.seconds = views, 0, 0.0
        self.rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        poses = np.stack([v.pose for v in views])
        self.scene_scale = 1.1 * scene_centre_and_radius(poses)[1]
        self.images = [torch.as_tensor(to_uint8(v.image)).to(self.device) for v in views]
        Ks = np.stack([v.camera.continuous_K() for v in views])
        self.Ks = torch.as_tensor(Ks, dtype=torch.float32, device=self.device)
        self.viewmats = torch.as_tensor(poses, dtype=torch.float32, device=self.device)
        self.bg = torch.tensor(cfg.background, dtype=torch.float32, device=self.device)
        # Training rasterizes with gsplat on CUDA (it must be installed) and the reference elsewhere.
        self.backend = resolve_backend("gsplat" if self.device.type == "cuda" else "torch", self.device)
        return init_points_random(poses, cfg.init_points, self.rng) if init is None else init

    def target(self, i: int) -> Tensor:
        """Training image ``i`` as ``[1, H, W, 3]`` float in [0, 1]."""
        return self.images[i][None].float() / 255.0

    def train_step(self) -> dict:
        raise NotImplementedError

    def render_view(self, view: TrainView) -> Tensor:
        """The current model's image ``[1, H, W, 3]`` of a (test) view."""
        raise NotImplementedError

    def model_size(self) -> dict[str, int]:
        """What the log calls the model's size, e.g. ``{"num_gaussians": N}``."""
        raise NotImplementedError

    def log_extra(self, step: int) -> dict:
        return {}

    def save(self) -> Path:
        raise NotImplementedError

    def train(
        self, test_views: list[TrainView] | None = None, progress: bool = True, until: int | None = None
    ) -> list[dict]:
        """Train from the current step to ``cfg.iterations`` (or stop at step ``until`` and save, to resume
        later); returns the evaluations made on ``test_views`` at ``cfg.eval_steps`` and the last step."""
        from tqdm import tqdm

        cfg = self.cfg
        write_json(self.out / "config.json", asdict(cfg))
        evals = []
        until = min(until or cfg.iterations, cfg.iterations)
        bar = tqdm(total=cfg.iterations, initial=self.step, desc="training", unit="step", disable=not progress)
        log_path = self.out / "train_log.csv"  # a full disk names it
        with naming(log_path), open(log_path, "a", newline="") as f:
            log = csv.writer(f)
            if f.tell() == 0:
                log.writerow(["step", "loss", "l1", "psnr", *self.model_size(), *self.log_extra(0), "seconds"])
            t0 = time.perf_counter()
            while self.step < until:
                stats = self.train_step()
                bar.update(1)
                done = self.step  # steps completed
                if done % cfg.log_every == 0 or done == cfg.iterations:
                    elapsed = self.seconds + time.perf_counter() - t0
                    loss, l1 = float(stats["loss"]), float(stats["l1"])
                    p = float(-10 * torch.log10(stats["mse"].clamp_min(1e-12)))
                    size = self.model_size()
                    log.writerow([done, f"{loss:.6f}", f"{l1:.6f}", f"{p:.3f}", *size.values(),
                                  *self.log_extra(done - 1).values(), f"{elapsed:.2f}"])  # fmt: skip
                    f.flush()
                    bar.set_postfix(loss=f"{loss:.4f}", psnr=f"{p:.2f}", n=next(iter(size.values())))
                if done in cfg.eval_steps or done in cfg.save_steps or done in (until, cfg.iterations):
                    self.seconds += time.perf_counter() - t0
                    if test_views and (done in cfg.eval_steps or done == cfg.iterations):
                        evals.append(self.evaluate(test_views))
                    if done in cfg.save_steps or done == until < cfg.iterations:  # stopping early: resumable
                        self.save()
                    t0 = time.perf_counter()
            self.seconds += time.perf_counter() - t0
        bar.close()
        return evals

    def write_checkpoint(self, state: dict) -> Path:
        """``ckpt_<step>.pt``: the subclass's ``state`` with the step, time, config and random generators."""
        path = self.out / f"ckpt_{self.step}.pt"
        cuda_rng = torch.cuda.get_rng_state() if self.device.type == "cuda" else None
        with atomic_path(path) as tmp:  # a killed save never leaves a torn checkpoint for --resume to take
            torch.save({**state, "step": self.step, "seconds": self.seconds, "config": asdict(self.cfg),
                        "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "cuda_rng": cuda_rng}, tmp)  # fmt: skip
        return path

    def read_checkpoint(self, path: str | Path | None = None) -> dict | None:
        """Load ``path`` or the latest ``ckpt_<N>.pt`` in the output folder (None if there is none) and
        restore the step, time and random generators; the subclass restores the rest from the result."""
        if path is None:
            ckpts = sorted(self.out.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
            if not ckpts:
                return None
            path = ckpts[-1]
        ck = torch.load(path, map_location="cpu", weights_only=False)
        self.step, self.seconds = int(ck["step"]), float(ck["seconds"])
        self.rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        if ck.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck["cuda_rng"])
        return ck

    @torch.no_grad()
    def evaluate(self, views: list[TrainView]) -> dict:
        """Mean PSNR and SSIM over ``views`` (appended to ``eval.csv``)."""
        values = []
        for v in views:
            gt = torch.as_tensor(v.image, device=self.device)
            gt = (gt.float() / 255.0 if gt.dtype == torch.uint8 else gt.float())[None]
            rgb = self.render_view(v).clamp(0, 1)
            values.append((psnr(rgb, gt), float(ssim(rgb, gt))))
        p, s = np.mean(values, axis=0) if values else (math.nan, math.nan)
        row = {"step": self.step, "psnr": float(p), "ssim": float(s), **self.model_size(),
               "seconds": self.seconds, "views": len(views)}  # fmt: skip
        path = self.out / "eval.csv"
        new = not path.is_file()
        self.out.mkdir(parents=True, exist_ok=True)
        with naming(path), open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        return row


def view_tensors(view: TrainView, device) -> tuple[Tensor, Tensor]:
    """``viewmat [1, 4, 4]`` and ``K [1, 3, 3]`` (continuous convention) of a view, for the rasterizers."""
    K = torch.as_tensor(view.camera.continuous_K(), dtype=torch.float32, device=device)[None]
    return torch.as_tensor(view.pose, dtype=torch.float32, device=device)[None], K


# ----------------------------------------------------------------------------- views from dataset frames
def load_views(frames, max_size: int | None = MAX_SIZE, background=(0.0, 0.0, 0.0), progress: bool = True):
    """:class:`TrainView` s of dataset frames (``gscpr.data.Frame``): images read (RGBA composited on
    ``background``), undistorted to the pinhole camera where the camera has distortion, and downscaled so the
    long side is at most ``max_size`` (3DGS's default 1600). Raises ``DatasetError`` for a frame without a pose
    or an image whose size is not its camera's."""
    import cv2
    from tqdm import tqdm

    views = []
    for f in tqdm(frames, desc="loading images", unit="image", disable=not progress):
        if f.pose is None:
            raise DatasetError(f"{f.image_path}: training views need a pose, this frame has none")
        img, cam = load_rgb(f.image_path, background), f.camera
        if img.shape[:2] != (cam.height, cam.width):
            raise DatasetError(size_mismatch(f.image_path, img.shape[1], img.shape[0], cam.width, cam.height))
        if cam.has_distortion:  # OpenCV or fisheye: the renders are the pinhole's
            img, cam = cam.undistort_image(img), cam.without_distortion()
        if max_size and max(cam.width, cam.height) > max_size:
            s = max_size / max(cam.width, cam.height)
            w, h = round(cam.width * s), round(cam.height * s)
            img, cam = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), cam.resized(w, h)
        views.append(TrainView(to_uint8(img), cam, f.pose, f.name))
    return views


def load_masks(folder: str | Path, views: list[TrainView]) -> list[np.ndarray]:
    """Per training view, the mask ``folder/<image name>`` (any image extension; names with ``/`` also looked
    up flattened to ``_``, as GS-CPR's Cambridge masks are), resized to the view, white (> 0.5) = kept."""
    import cv2

    folder = Path(folder)
    out = []
    for v in views:
        stems = {Path(v.name).with_suffix(""), Path(v.name.replace("/", "_")).with_suffix("")}
        found = [p for s in stems for p in sorted(folder.glob(f"{s}.*"))]
        if not found:
            raise DatasetError(f"{folder}: no mask for image {v.name!r} (expected e.g. {folder / v.name})")
        m = load_rgb(found[0], (0.0, 0.0, 0.0)).mean(axis=-1)
        if m.shape != (v.camera.height, v.camera.width):
            m = cv2.resize(m, (v.camera.width, v.camera.height), interpolation=cv2.INTER_AREA)
        out.append(m > 0.5)
    return out
