"""Training a 3DGS scene model on posed images (:class:`Trainer`), and :func:`prune` to shrink one.

The loop is the standard one (Kerbl et al. 2023, as gsplat's trainer runs it): Adam on positions, log-scales,
quaternions, opacity logits and SH coefficients; loss ``(1 - w) L1 + w (1 - SSIM)`` with ``w = 0.2``; the
positions' learning rate decays exponentially to 1 %; one more SH degree every ``sh_degree_interval`` steps.
On CUDA the rasterizer is gsplat's and the model grows with one of its strategies: ``default`` (clone, split
and prune from view-space gradients) or ``mcmc`` (relocation and growth up to ``cap_max``, Kheradmand et al.
2024). Elsewhere the PyTorch reference rasterizer trains a fixed set of Gaussians (no densification): enough
for tests and small fits.

Outputs in ``out_dir``: ``point_cloud/iteration_<N>/point_cloud.ply`` (an Inria 3DGS PLY) and what every run
writes (:mod:`gscpr.training.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..splat.gaussians import Gaussians, save_ply
from ..splat.render import rasterize_gaussians
from ..splat.sh import num_sh_bases, rgb_to_sh
from .loop import RunConfig, TrainLoop, TrainView, knn_scales, ssim, view_tensors

__all__ = ["STRATEGIES", "TrainConfig", "Trainer", "prune"]

STRATEGIES = ("default", "mcmc")


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
