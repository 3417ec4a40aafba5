"""Training a 3DGS scene model on posed images: the core loop and ``gscpr train``.

The loop is the standard one (Kerbl et al. 2023, as gsplat's trainer runs it): Adam on positions, log-scales,
quaternions, opacity logits and SH coefficients; loss ``(1 - w) L1 + w (1 - SSIM)`` with ``w = 0.2``; the
positions' learning rate decays exponentially to 1 %; one more SH degree every ``sh_degree_interval`` steps.
On CUDA the rasterizer is gsplat's and the model grows with one of its strategies: ``default`` (clone, split
and prune from view-space gradients) or ``mcmc`` (relocation and growth up to ``cap_max``, Kheradmand et al.
2024). Elsewhere the PyTorch reference rasterizer trains a fixed set of Gaussians (no densification): enough
for tests and small fits.

Outputs in ``out_dir`` (the Inria layout, so that other 3DGS tools read them):
``point_cloud/iteration_<N>/point_cloud.ply``, ``ckpt_<N>.pt`` (resume), ``config.json``, ``train_log.csv``
(loss, training PSNR, number of Gaussians, seconds) and ``eval.csv`` (test PSNR / SSIM at the eval steps).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..camera import Camera
from ..data.images import to_uint8
from .gaussians import Gaussians, save_ply
from .render import rasterize_gaussians, resolve_backend
from .sh import num_sh_bases, rgb_to_sh

__all__ = [
    "RunConfig",
    "TrainConfig",
    "TrainLoop",
    "TrainView",
    "Trainer",
    "init_points_random",
    "knn_scales",
    "load_views",
    "prune",
    "psnr",
    "scene_centre_and_radius",
    "ssim",
]

STRATEGIES = ("default", "mcmc")


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
class TrainConfig(RunConfig):
    """Every knob of a 3DGS training run (the defaults are the 3DGS paper's / gsplat's for 30k steps)."""

    iterations: int = 30_000
    strategy: str = "default"  # "default" or "mcmc" (CUDA only; the CPU trains a fixed set)
    sh_degree: int = 3
    sh_degree_interval: int = 1000  # one more active SH degree every this many steps
    init_points: int = 100_000  # random initialisation, when there are no SfM points
    init_opacity: float = 0.1
    lr_means: float = 1.6e-4  # times the scene scale, decays to 1 % over the run
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    ssim_weight: float = 0.2
    # Growth (gsplat's DefaultStrategy / MCMCStrategy options).
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    reset_every: int = 3000
    grow_grad2d: float = 2e-4
    cap_max: int = 1_000_000  # mcmc: the most Gaussians
    mcmc_opacity_reg: float = 0.01
    mcmc_scale_reg: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of {', '.join(STRATEGIES)}")


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

    A subclass sets ``cfg`` (with ``iterations``, ``eval_steps``, ``save_steps``, ``log_every``), ``out``,
    ``device``, ``step`` and ``seconds``, and implements :meth:`train_step` (returning ``loss``, ``l1`` and
    ``mse`` tensors), :meth:`render_view`, :meth:`model_size` and :meth:`save`.
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
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
        evals = []
        until = min(until or cfg.iterations, cfg.iterations)
        bar = tqdm(total=cfg.iterations, initial=self.step, desc="training", unit="step", disable=not progress)
        with open(self.out / "train_log.csv", "a", newline="") as f:
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
        torch.save({**state, "step": self.step, "seconds": self.seconds, "config": asdict(self.cfg),
                    "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "cuda_rng": cuda_rng},
                   path)  # fmt: skip
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
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        return row


def view_tensors(view: TrainView, device) -> tuple[Tensor, Tensor]:
    """``viewmat [1, 4, 4]`` and ``K [1, 3, 3]`` (continuous convention) of a view, for the rasterizers."""
    K = torch.as_tensor(view.camera.continuous_K(), dtype=torch.float32, device=device)[None]
    return torch.as_tensor(view.pose, dtype=torch.float32, device=device)[None], K


# ----------------------------------------------------------------------------- the 3DGS trainer
class Trainer(TrainLoop):
    """A 3DGS training run: ``Trainer(cfg, train_views, out_dir).train(test_views)``; resumable from ``out_dir``.

    Args:
        init: ``(xyz [N, 3], rgb [N, 3] in [0, 1])`` (an SfM cloud); random points where the cameras look if None.
        device: CUDA trains with gsplat and grows the model; CPU uses the reference rasterizer, fixed set.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        views: list[TrainView],
        out_dir: str | Path,
        init: tuple[np.ndarray, np.ndarray] | None = None,
        device: str | torch.device = "cuda",
    ):
        init = self.start(cfg, views, out_dir, init, device)
        if cfg.strategy == "mcmc" and self.backend == "gsplat" and len(init[0]) > cfg.cap_max:
            keep = self.rng.choice(len(init[0]), cfg.cap_max, replace=False)  # MCMC grows up to the cap, never shrinks
            init = (np.asarray(init[0])[keep], np.asarray(init[1])[keep])
        self.params = self._init_params(*init)
        self.lrs = {"means": cfg.lr_means * self.scene_scale, "scales": cfg.lr_scales, "quats": cfg.lr_quats,
                    "opacities": cfg.lr_opacities, "sh0": cfg.lr_sh0, "shN": cfg.lr_shN}  # fmt: skip
        self.optimizers = self._make_optimizers()
        self.strategy = self.strategy_state = None
        if self.backend == "gsplat":
            self._init_strategy()

    def _init_params(self, xyz: np.ndarray, rgb: np.ndarray) -> torch.nn.ParameterDict:
        xyz_t = torch.as_tensor(np.asarray(xyz), dtype=torch.float32, device=self.device)
        n = len(xyz_t)
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        rgb_t = torch.as_tensor(np.asarray(rgb), dtype=torch.float32)
        return torch.nn.ParameterDict(
            {
                "means": xyz_t,
                "scales": torch.log(knn_scales(xyz_t))[:, None].repeat(1, 3),
                "quats": quats,
                "opacities": torch.logit(torch.full((n,), self.cfg.init_opacity)),
                "sh0": rgb_to_sh(rgb_t)[:, None, :],
                "shN": torch.zeros(n, num_sh_bases(self.cfg.sh_degree) - 1, 3),
            }
        ).to(self.device)

    def _make_optimizers(self) -> dict[str, torch.optim.Adam]:
        """One Adam per parameter group (gsplat's strategies replace parameters group by group)."""
        return {
            k: torch.optim.Adam([{"params": self.params[k], "lr": lr, "name": k}], eps=1e-15)
            for k, lr in self.lrs.items()
        }

    def _init_strategy(self) -> None:
        from gsplat.strategy import DefaultStrategy, MCMCStrategy

        c = self.cfg
        if c.strategy == "mcmc":
            self.strategy = MCMCStrategy(cap_max=c.cap_max, refine_start_iter=c.refine_start,
                                         refine_stop_iter=c.refine_stop, refine_every=c.refine_every)  # fmt: skip
            self.strategy_state = self.strategy.initialize_state()
        else:
            self.strategy = DefaultStrategy(refine_start_iter=c.refine_start, refine_stop_iter=c.refine_stop,
                                            refine_every=c.refine_every, reset_every=c.reset_every,
                                            grow_grad2d=c.grow_grad2d)  # fmt: skip
            self.strategy_state = self.strategy.initialize_state(scene_scale=self.scene_scale)
        self.strategy.check_sanity(self.params, self.optimizers)

    # ------------------------------------------------------------------ rendering
    def active_sh_degree(self, step: int | None = None) -> int:
        step = self.step if step is None else step
        return min(self.cfg.sh_degree, step // max(1, self.cfg.sh_degree_interval))

    def _rasterize(self, viewmats: Tensor, Ks: Tensor, width: int, height: int, sh_degree: int):
        p = self.params
        colors = torch.cat([p["sh0"], p["shN"]], dim=1)
        args = (p["means"], F.normalize(p["quats"], dim=-1), torch.exp(p["scales"]), torch.sigmoid(p["opacities"]),
                colors, viewmats, Ks, width, height)  # fmt: skip
        absgrad = self.cfg.strategy == "default" and getattr(self.strategy, "absgrad", False)
        rgb, alpha, info = rasterize_gaussians(*args, backend=self.backend, sh_degree=sh_degree, packed=False,
                                               absgrad=absgrad)  # fmt: skip
        return rgb + (1 - alpha) * self.bg, alpha, info

    def gaussians(self) -> Gaussians:
        """The current model (detached, on the training device)."""
        p = self.params
        return Gaussians(
            means=p["means"].detach(), quats=F.normalize(p["quats"].detach(), dim=-1), log_scales=p["scales"].detach(),
            opacity_logits=p["opacities"].detach(), sh=torch.cat([p["sh0"], p["shN"]], dim=1).detach(),
        )  # fmt: skip

    # ------------------------------------------------------------------ one step and the loop
    def train_step(self) -> dict:
        cfg, step = self.cfg, self.step
        i = int(self.rng.integers(len(self.views)))
        cam = self.views[i].camera
        gt = self.target(i)
        sh_degree = self.active_sh_degree()
        rgb, _, info = self._rasterize(self.viewmats[i : i + 1], self.Ks[i : i + 1], cam.width, cam.height, sh_degree)
        if self.strategy is not None:
            self.strategy.step_pre_backward(self.params, self.optimizers, self.strategy_state, step, info)
        l1 = F.l1_loss(rgb, gt)
        loss = (1 - cfg.ssim_weight) * l1 + cfg.ssim_weight * (1 - ssim(rgb, gt))
        if self.cfg.strategy == "mcmc" and self.strategy is not None:
            loss = loss + cfg.mcmc_opacity_reg * torch.sigmoid(self.params["opacities"]).mean()
            loss = loss + cfg.mcmc_scale_reg * torch.exp(self.params["scales"]).mean()
        loss.backward()
        lr_means = self.lrs["means"] * 0.01 ** (step / max(1, cfg.iterations))
        for group in self.optimizers["means"].param_groups:
            group["lr"] = lr_means
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        if self.strategy is not None:
            if cfg.strategy == "mcmc":
                self.strategy.step_post_backward(self.params, self.optimizers, self.strategy_state, step, info,
                                                 lr=lr_means)  # fmt: skip
            else:
                self.strategy.step_post_backward(self.params, self.optimizers, self.strategy_state, step, info,
                                                 packed=False)  # fmt: skip
        self.step += 1
        # Tensors, not floats: reading them back each step would stall the GPU; the loop does when it logs.
        return {"loss": loss.detach(), "l1": l1.detach(), "mse": F.mse_loss(rgb.detach().clamp(0, 1), gt)}

    def render_view(self, view: TrainView) -> Tensor:
        vm, K = view_tensors(view, self.device)
        return self._rasterize(vm, K, view.camera.width, view.camera.height, self.active_sh_degree())[0]

    def model_size(self) -> dict[str, int]:
        return {"num_gaussians": len(self.params["means"])}

    def log_extra(self, step: int) -> dict:
        return {"sh_degree": self.active_sh_degree(step)}

    # ------------------------------------------------------------------ files
    def save(self) -> Path:
        """The PLY at ``point_cloud/iteration_<step>/`` and a checkpoint ``ckpt_<step>.pt`` to resume from."""
        ply = self.out / "point_cloud" / f"iteration_{self.step}" / "point_cloud.ply"
        ply.parent.mkdir(parents=True, exist_ok=True)
        save_ply(ply, self.gaussians().to("cpu"))
        self.write_checkpoint({
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "strategy_state": _to_device(self.strategy_state, "cpu"),
        })  # fmt: skip
        return ply

    def resume(self, path: str | Path | None = None) -> bool:
        """Continue from ``path`` or the latest ``ckpt_<N>.pt`` in the output folder; False if there is none."""
        if (ck := self.read_checkpoint(path)) is None:
            return False
        self.params = torch.nn.ParameterDict(ck["params"]).to(self.device)
        self.optimizers = self._make_optimizers()
        for k, o in self.optimizers.items():
            o.load_state_dict(ck["optimizers"][k])
        if self.strategy is not None and ck["strategy_state"] is not None:
            self.strategy_state = _to_device(ck["strategy_state"], self.device)
        return True


def _to_device(x, device):
    """``x`` (a tensor, or a dict of them such as a strategy's state) detached and moved to ``device``."""
    if isinstance(x, Tensor):
        return x.detach().to(device)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def prune(g: Gaussians, max_gaussians: int, min_opacity: float = 0.05) -> Gaussians:
    """Keep at most ``max_gaussians``: drop near-transparent ones, then keep the largest opacity x area."""
    g = g.subset(torch.nonzero(g.opacities > min_opacity).flatten())
    if len(g) > max_gaussians:
        importance = g.opacities * torch.exp(g.log_scales).prod(dim=1) ** (2 / 3)
        g = g.subset(importance.topk(max_gaussians).indices)
    return g


# ----------------------------------------------------------------------------- data
def load_views(frames, max_size: int | None = 1600, background=(0.0, 0.0, 0.0), progress: bool = True):
    """:class:`TrainView` s of dataset frames: images read (RGBA composited on ``background``), undistorted to
    the pinhole camera where the camera has distortion, and downscaled so the long side is at most
    ``max_size`` (3DGS's default 1600). Frames without a pose are an error."""
    import cv2
    from tqdm import tqdm

    from ..data.frame import DatasetError
    from ..data.images import load_rgb

    views = []
    for f in tqdm(frames, desc="loading images", unit="image", disable=not progress):
        if f.pose is None:
            raise DatasetError(f"{f.image_path}: training views need a pose, this frame has none")
        img, cam = load_rgb(f.image_path, background), f.camera
        if img.shape[:2] != (cam.height, cam.width):
            raise DatasetError(
                f"{f.image_path}: image is {img.shape[1]}x{img.shape[0]}, camera says {cam.width}x{cam.height}"
            )
        if cam.has_distortion:
            img = cv2.undistort(img, cam.K, np.asarray(cam.dist))
            cam = cam.without_distortion()
        if max_size and max(cam.width, cam.height) > max_size:
            s = max_size / max(cam.width, cam.height)
            w, h = round(cam.width * s), round(cam.height * s)
            img, cam = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), cam.resized(w, h)
        views.append(TrainView(to_uint8(img), cam, f.pose, f.name))
    return views


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .train_scaffold import ScaffoldTrainConfig

    d, sd = TrainConfig(), ScaffoldTrainConfig()
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (COLMAP, Blender, instant-ngp, ...)")
    parser.add_argument("--out", type=Path, required=True, help="model folder (Inria layout) with logs and checkpoints")
    parser.add_argument("--model", default="3dgs", choices=["3dgs", "scaffold"], help="scene model to train")
    parser.add_argument("--iterations", type=int, default=d.iterations)
    parser.add_argument("--max-size", type=int, default=1600, help="downscale images to this long side")
    parser.add_argument("--background", type=float, nargs=3, help="default: white for Blender scenes, else black")
    parser.add_argument("--init-points", type=int, help=f"random init without SfM points (default: {d.init_points} "
                        f"for 3dgs, {sd.init_points} for scaffold)")  # fmt: skip
    parser.add_argument("--eval-steps", type=int, nargs="*", default=list(d.eval_steps))
    parser.add_argument("--save-steps", type=int, nargs="*", default=list(d.save_steps), help="and the last step")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    g = parser.add_argument_group("3dgs")
    g.add_argument("--strategy", default=d.strategy, choices=STRATEGIES, help="growth strategy (CUDA)")
    g.add_argument("--sh-degree", type=int, default=d.sh_degree)
    g.add_argument("--refine-stop", type=int, default=d.refine_stop, help="last step that grows the model")
    g.add_argument("--cap-max", type=int, default=d.cap_max, help="mcmc: the most Gaussians")
    g = parser.add_argument_group("scaffold (the original's options)")
    g.add_argument("--voxel-size", type=float, default=sd.voxel_size, help="anchor grid (<= 0: from the points)")
    g.add_argument("--update-init-factor", type=int, default=sd.update_init_factor)
    g.add_argument("--appearance-dim", type=int, default=sd.appearance_dim)
    g.add_argument("--update-until", type=int, default=sd.update_until, help="last step that grows anchors")
    colour = g.add_mutually_exclusive_group()
    colour.add_argument("--act", action="store_true", help="train GS-CPR's ACT exposure transform with the model")
    colour.add_argument("--exposure", action="store_true", help="per-image exposure compensation (baseline)")
    g.add_argument("--masks", type=Path, help="folder of masks named like the images (white: pixels the loss sees)")


def run(args: argparse.Namespace) -> int:
    import sys

    from ..data import detect_format, load_colmap_points, load_dataset
    from ..data.colmap import find_sparse_model
    from ..data.frame import DatasetError
    from .train_scaffold import ScaffoldTrainConfig, ScaffoldTrainer, load_masks

    scaffold = args.model == "scaffold"
    if not scaffold and (args.act or args.exposure or args.masks):
        print("error: --act, --exposure and --masks train with --model scaffold", file=sys.stderr)
        return 2
    try:
        fmt = detect_format(args.data, "train")
        background = tuple(args.background) if args.background else (1.0, 1.0, 1.0) if fmt == "blender" else (0.0,) * 3
        train_frames = load_dataset(args.data, "train", fmt)
        try:
            test_frames = load_dataset(args.data, "test", fmt)
        except DatasetError:
            test_frames = []
        init = None
        if fmt in ("colmap", "llff"):
            try:
                xyz, rgb = load_colmap_points(find_sparse_model(args.data))
                init = (xyz, rgb / 255.0)
            except DatasetError:
                init = None  # LLFF without its sparse model: random points
        common = dict(iterations=args.iterations, background=background, eval_steps=tuple(args.eval_steps),
                      save_steps=(*args.save_steps, args.iterations), seed=args.seed)  # fmt: skip
        if args.init_points is not None:
            common["init_points"] = args.init_points
        if scaffold:
            cfg = ScaffoldTrainConfig(
                **common, voxel_size=args.voxel_size, update_init_factor=args.update_init_factor,
                appearance_dim=args.appearance_dim, update_until=args.update_until,
                colour="act" if args.act else "exposure" if args.exposure else "none",
            )  # fmt: skip
        else:
            cfg = TrainConfig(**common, strategy=args.strategy, sh_degree=args.sh_degree, refine_stop=args.refine_stop,
                              cap_max=args.cap_max)  # fmt: skip
        train_views = load_views(train_frames, args.max_size, background)
        test_views = load_views(test_frames, args.max_size, background)
        masks = load_masks(args.masks, train_views) if args.masks else None
    except (DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.device == "cpu":
        print("training on the CPU: reference rasterizer" + ("" if scaffold else ", no densification")
              + " (slow; use a GPU for real scenes)")  # fmt: skip
    if scaffold:
        trainer = ScaffoldTrainer(cfg, train_views, args.out, init, args.device, masks)
    else:
        trainer = Trainer(cfg, train_views, args.out, init, args.device)
    if args.resume and trainer.resume():
        print(f"resuming {args.out} at step {trainer.step}")
    size = ", ".join(f"{v} {k.removeprefix('num_')}" for k, v in trainer.model_size().items())
    print(f"{fmt} scene: {len(train_views)} training and {len(test_views)} test views, {size} at the start"
          f" ({'SfM points' if init is not None else 'random'})")  # fmt: skip
    for e in trainer.train(test_views):
        size = ", ".join(f"{e[k]} {k.removeprefix('num_')}" for k in trainer.model_size())
        print(f"step {e['step']}: test PSNR {e['psnr']:.2f} dB, SSIM {e['ssim']:.4f}, {size}")
    print(f"model: {args.out / 'point_cloud' / f'iteration_{trainer.step}'}")
    return 0
