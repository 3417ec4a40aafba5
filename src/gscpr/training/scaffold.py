"""Training a Scaffold-GS scene model (Lu et al., CVPR 2024) the way GS-CPR's maps were trained, optionally with
ACT (GS-CPR's exposure-adaptive colour transform) or a per-image exposure baseline.

The recipe is the original's (``city-super/Scaffold-GS``, as GS-CPR's ``train_scaffold.sh`` runs it):

* anchors on a voxel grid of the initial points (``voxel_size``; <= 0: the median distance of the points to
  their three nearest neighbours), zero features and offsets, log-scales from the neighbour distance; anchors
  never move (position learning rate 0);
* per view, the anchors that can reach the frustum decode ``n_offsets`` children each (opacity, colour and
  covariance MLPs), children with opacity <= 0 are dropped;
* loss ``0.8 L1 + 0.2 (1 - SSIM) + 0.01 mean(prod(child scales))``;
* anchor growing and pruning with the original's rule: :class:`~gscpr.training.scaffold_strategy.ScaffoldStrategy`
  (statistics from ``start_stat``, updates every ``update_interval`` steps from ``update_from`` to
  ``update_until``; its two knowing departures from the original are listed there);
* Adam with the original's learning rates and exponential schedules.

Colour models (``colour``):

* ``act``: GS-CPR's ACT. The training image's 10-bin luminance histogram goes through the ACT MLP to a 3x3
  matrix and bias; the render becomes ``sigmoid(A rgb + b)`` per pixel before the loss (the correct per-pixel
  transform, not the released code's mixed-up layout). At refinement time the query's histogram picks the
  transform (``gscpr.splat.act``). Optional masks (``masks``) restrict the loss to static pixels, as GS-CPR's
  semantic masks do on Cambridge.
* ``exposure``: the plain baseline, one affine colour transform per training image (identity at the start).
  Novel views get the identity.

Outputs in ``out_dir``: the original's layout (``cfg_args`` with every field of the original's, and
``point_cloud/iteration_<N>/point_cloud.ply`` and the TorchScript MLPs, via
:func:`gscpr.splat.scaffold.save_scaffold`), ``act.pt`` / ``exposure.pt`` for the colour model in each
``iteration_<N>/``, the latest ACT also as ``out_dir/act.pt`` (next to ``point_cloud/``: where the render
scripts pick it up), ``ckpt_<N>.pt`` to resume, ``config.json``, ``train_log.csv`` and ``eval.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..outputs import atomic_path
from ..splat.act import ACT_FILE, ACTModule, apply_act, luminance_histogram
from ..splat.render import rasterize_gaussians
from ..splat.scaffold import ScaffoldConfig, ScaffoldModel, save_scaffold, viewmat_camera_center
from .loop import RunConfig, TrainLoop, TrainView, knn_scales, ssim, view_tensors
from .scaffold_strategy import ANCHOR_PARAMS, STATS, ScaffoldStrategy

__all__ = ["COLOUR_MODELS", "ScaffoldTrainConfig", "ScaffoldTrainer", "expon_lr", "voxelize"]

COLOUR_MODELS = ("none", "act", "exposure")


@dataclass
class ScaffoldTrainConfig(RunConfig):
    """Every knob of a Scaffold-GS training run; the defaults are the original's (and GS-CPR's scripts')."""

    iterations: int = 30_000
    voxel_size: float = 0.001  # <= 0: the median distance of the initial points to their 3 nearest neighbours
    feat_dim: int = 32
    n_offsets: int = 10
    appearance_dim: int = 0  # GS-CPR trains without per-image appearance embeddings
    update_depth: int = 3
    update_init_factor: int = 4  # GS-CPR's scripts; Scaffold-GS's default is 16
    hierarchy_factor: int = 4
    ratio: int = 1  # anchors from every ratio-th initial point (the original's ``--ratio``: ``points[::ratio]``)
    # The original's ``--lod``: with its ``--eval`` it holds out the first lod + 1 images; GS-CPR's scripts never
    # pass ``--eval``, so it only reaches ``cfg_args``. Recorded there; the splits here are the dataset's.
    lod: int = 0
    init_points: int = 10_000  # random initialisation when there are no SfM points (the original's Blender loader)
    # Learning rates: (initial, final) of exponential schedules over ``iterations``; offsets times the scene scale.
    lr_offsets: tuple[float, float] = (0.01, 0.0001)
    lr_features: float = 0.0075
    lr_scaling: float = 0.007
    lr_mlp_opacity: tuple[float, float] = (0.002, 0.00002)
    lr_mlp_cov: tuple[float, float] = (0.004, 0.004)
    lr_mlp_color: tuple[float, float] = (0.008, 0.00005)
    lr_mlp_feature_bank: tuple[float, float] = (0.01, 0.00001)
    lr_appearance: tuple[float, float] = (0.05, 0.0005)
    use_feat_bank: bool = False
    ssim_weight: float = 0.2
    scale_reg: float = 0.01
    # Anchor growing and pruning (ScaffoldStrategy's options).
    start_stat: int = 500
    update_from: int = 1500
    update_interval: int = 100
    update_until: int = 15_000
    min_opacity: float = 0.005
    success_threshold: float = 0.8
    grow_grad: float = 0.0002
    # Colour model: "none", "act" (GS-CPR's ACT) or "exposure" (per-image affine baseline).
    colour: str = "none"
    lr_colour: float = 5e-4  # GS-CPR's ACT learning rate (its NeRF-W style ``--lrate``)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ratio < 1:
            raise ValueError(f"ratio must be a positive integer, got {self.ratio}")
        if self.colour not in COLOUR_MODELS:
            raise ValueError(f"unknown colour model {self.colour!r}; expected one of {', '.join(COLOUR_MODELS)}")
        for name in ("lr_offsets", "lr_mlp_opacity", "lr_mlp_cov", "lr_mlp_color", "lr_mlp_feature_bank",
                     "lr_appearance"):  # fmt: skip
            setattr(self, name, tuple(getattr(self, name)))


def expon_lr(lrs: tuple[float, float], step: int, max_steps: int) -> float:
    """The original's schedule: log-linear from ``lrs[0]`` at step 0 to ``lrs[1]`` at ``max_steps``."""
    lr0, lr1 = lrs
    if lr0 == lr1:
        return lr0
    if lr0 <= 0 or lr1 <= 0:
        return 0.0
    t = min(max(step / max(1, max_steps), 0.0), 1.0)
    return math.exp(math.log(lr0) * (1 - t) + math.log(lr1) * t)


def voxelize(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """The centres ``[M, 3]`` of the voxels of side ``voxel_size`` that hold at least one point."""
    return np.unique(np.round(np.asarray(points, dtype=np.float64) / voxel_size), axis=0) * voxel_size


class ScaffoldTrainer(TrainLoop):
    """A Scaffold-GS training run: ``ScaffoldTrainer(cfg, views, out_dir).train(test_views)``; resumable.

    Args:
        init: ``(xyz [N, 3], rgb [N, 3])`` (an SfM cloud; colours unused); random points if None. Every
            ``cfg.ratio``-th point seeds the anchors.
        masks: per training view, a boolean ``[H, W]`` of the pixels the loss sees (None: all).
        cfg_args: further entries of the saved ``cfg_args`` (``source_path``, ``model_path``: what the original's
            train.py records); the model options come from ``cfg``, the rest are the original's defaults.
        strategy: grows and prunes the anchors (default: :class:`ScaffoldStrategy` with ``cfg``'s options).
        device: CUDA rasterizes with gsplat; the CPU with the reference rasterizer (same algorithm, slow).
    """

    def __init__(
        self,
        cfg: ScaffoldTrainConfig,
        views: list[TrainView],
        out_dir: str | Path,
        init: tuple[np.ndarray, np.ndarray] | None = None,
        device: str | torch.device = "cuda",
        masks: list[np.ndarray | None] | None = None,
        strategy: ScaffoldStrategy | None = None,
        cfg_args: dict | None = None,
    ):
        if masks is not None and len(masks) != len(views):
            raise ValueError(f"got {len(masks)} masks for {len(views)} views")
        init = self.start(cfg, views, out_dir, init, device)
        self.model = self._init_model(np.asarray(init[0]), cfg_args or {})
        if cfg.appearance_dim > 0:
            self.model.embedding_appearance = nn.Embedding(len(views), cfg.appearance_dim).to(self.device)
        self.colour = self._init_colour(len(views))
        self.optimizer = self._make_optimizer()
        self.strategy = strategy or ScaffoldStrategy.from_config(cfg)
        self.strategy_state = self.strategy.initialize_state(self.model, self.voxel_size)
        self.hists = torch.stack([luminance_histogram(v.image) for v in views]).to(self.device)
        self.masks = [None if m is None else torch.as_tensor(m, dtype=torch.bool, device=self.device)
                      for m in (masks or [None] * len(views))]  # fmt: skip

    # ------------------------------------------------------------------ set-up
    def _init_model(self, xyz: np.ndarray, cfg_args: dict) -> ScaffoldModel:
        cfg = self.cfg
        xyz = xyz[:: cfg.ratio]
        voxel = cfg.voxel_size
        if voxel <= 0:
            pts = torch.as_tensor(xyz, dtype=torch.float32, device=self.device)
            voxel = float(knn_scales(pts).median())
        self.voxel_size = voxel
        anchors = torch.as_tensor(voxelize(xyz, voxel), dtype=torch.float32, device=self.device)
        model = ScaffoldModel(len(anchors), ScaffoldConfig(
            feat_dim=cfg.feat_dim, n_offsets=cfg.n_offsets, voxel_size=voxel, appearance_dim=cfg.appearance_dim,
            use_feat_bank=cfg.use_feat_bank, white_background=cfg.background == (1.0, 1.0, 1.0),
            extra={"update_depth": cfg.update_depth, "update_init_factor": cfg.update_init_factor,
                   "update_hierachy_factor": cfg.hierarchy_factor, "lod": cfg.lod, "ratio": cfg.ratio, **cfg_args},
        )).to(self.device)  # fmt: skip
        with torch.no_grad():
            model.anchors.copy_(anchors)
            model.log_scaling.copy_(torch.log(knn_scales(anchors))[:, None].repeat(1, 6))
            model.opacity_logits.fill_(math.log(0.1 / 0.9))
        for name in ("anchors", "opacity_logits", "rotations"):  # fixed: the original's learning rates are 0
            getattr(model, name).requires_grad_(False)
        return model.train()

    def _init_colour(self, n_views: int) -> nn.Module | None:
        if self.cfg.colour == "act":
            return ACTModule().to(self.device)
        if self.cfg.colour == "exposure":
            exposure = nn.Embedding(n_views, 12).to(self.device)  # 3x3 matrix (minus identity) and bias
            nn.init.zeros_(exposure.weight)
            return exposure
        return None

    def _make_optimizer(self) -> torch.optim.Adam:
        m, c = self.model, self.cfg
        groups = [
            {"params": [m.offsets], "name": "offsets"},
            {"params": [m.features], "name": "features", "lr": c.lr_features},
            {"params": [m.log_scaling], "name": "log_scaling", "lr": c.lr_scaling},
            {"params": list(m.mlp_opacity.parameters()), "name": "mlp_opacity"},
            {"params": list(m.mlp_cov.parameters()), "name": "mlp_cov"},
            {"params": list(m.mlp_color.parameters()), "name": "mlp_color"},
        ]
        if m.mlp_feature_bank is not None:
            groups.append({"params": list(m.mlp_feature_bank.parameters()), "name": "mlp_feature_bank"})
        if m.embedding_appearance is not None:
            groups.append({"params": list(m.embedding_appearance.parameters()), "name": "appearance"})
        if self.colour is not None:
            groups.append({"params": list(self.colour.parameters()), "name": "colour", "lr": c.lr_colour})
        opt = torch.optim.Adam([{"lr": 0.0, **g} for g in groups], eps=1e-15)
        self._update_lrs(opt, 0)
        return opt

    def _update_lrs(self, opt: torch.optim.Adam, step: int) -> None:
        c, n = self.cfg, self.cfg.iterations
        schedules = {"offsets": tuple(v * self.scene_scale for v in c.lr_offsets), "mlp_opacity": c.lr_mlp_opacity,
                     "mlp_cov": c.lr_mlp_cov, "mlp_color": c.lr_mlp_color, "mlp_feature_bank": c.lr_mlp_feature_bank,
                     "appearance": c.lr_appearance}  # fmt: skip
        for group in opt.param_groups:
            if group["name"] in schedules:
                group["lr"] = expon_lr(schedules[group["name"]], step, n)

    # ------------------------------------------------------------------ rendering
    def _rasterize(self, g, viewmat: Tensor, K: Tensor, width: int, height: int):
        rgb, alpha, info = rasterize_gaussians(g.means, g.quats, g.scales, g.opacities, g.colors, viewmat, K, width,
                                               height, backend=self.backend, packed=False)  # fmt: skip
        return rgb + (1 - alpha) * self.bg, info

    def _decode(self, i: int | None, viewmat: Tensor, K: Tensor, width: int, height: int):
        centre = viewmat_camera_center(viewmat[0])
        visible = self.model.visible_anchors(viewmat[0], K[0], width, height)
        appearance = None if i is None or self.model.embedding_appearance is None else i
        return (*self.model.decode_children(centre, visible, appearance), visible)

    def _colour_transform(self, rgb: Tensor, i: int) -> Tensor:
        if self.cfg.colour == "act":
            return apply_act(rgb[0], self.colour(self.hists[i : i + 1])[0])[None]
        if self.cfg.colour == "exposure":
            p = self.colour.weight[i]
            return rgb @ (torch.eye(3, device=rgb.device) + p[:9].reshape(3, 3)).T + p[9:12]
        return rgb

    def render_view(self, view: TrainView) -> Tensor:
        """A novel view: the query's own ACT transform (its histogram), no exposure correction."""
        vm, K = view_tensors(view, self.device)
        g = self._decode(None, vm, K, view.camera.width, view.camera.height)[0]
        rgb = self._rasterize(g, vm, K, view.camera.width, view.camera.height)[0]
        if self.cfg.colour == "act":
            rgb = apply_act(rgb[0], self.colour(luminance_histogram(view.image)[None].to(self.device))[0])[None]
        return rgb

    def model_size(self) -> dict[str, int]:
        return {"num_anchors": len(self.model)}

    # ------------------------------------------------------------------ one step
    def render_training_view(self, i: int):
        """Training view ``i`` as the loss sees it (its appearance row and colour transform): the image
        ``[1, H, W, 3]``, the decoded Gaussians and the rasterizer's info with what the strategy needs from
        the decoder: ``child_opacity`` and ``kept`` (per child of the visible anchors) and ``visible``."""
        cam = self.views[i].camera
        vm, K = self.viewmats[i : i + 1], self.Ks[i : i + 1]
        g, child_opacity, kept, visible = self._decode(i, vm, K, cam.width, cam.height)
        rgb, info = self._rasterize(g, vm, K, cam.width, cam.height)
        info.update(child_opacity=child_opacity, kept=kept, visible=visible)
        return self._colour_transform(rgb, i), g, info

    def train_step(self) -> dict:
        cfg = self.cfg
        it = self.step + 1  # the original counts steps from 1
        self._update_lrs(self.optimizer, it)
        i = int(self.rng.integers(len(self.views)))
        rgb, g, info = self.render_training_view(i)
        self.strategy.step_pre_backward(self.model, self.optimizer, self.strategy_state, it, info)
        gt = self.target(i)
        if self.masks[i] is not None:
            m = self.masks[i][None, :, :, None].float()
            rgb, gt = rgb * m, gt * m
        l1 = F.l1_loss(rgb, gt)
        loss = (1 - cfg.ssim_weight) * l1 + cfg.ssim_weight * (1 - ssim(rgb, gt))
        if len(g.scales):
            loss = loss + cfg.scale_reg * g.scales.prod(dim=1).mean()
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.strategy.step_post_backward(self.model, self.optimizer, self.strategy_state, it, info)
        self.step += 1
        return {"loss": loss.detach(), "l1": l1.detach(), "mse": F.mse_loss(rgb.detach().clamp(0, 1), gt)}

    # ------------------------------------------------------------------ files
    def save(self) -> Path:
        """The original's model folder at this step, the colour model, and ``ckpt_<step>.pt`` to resume from.

        The colour model goes to ``point_cloud/iteration_<step>/<colour>.pt`` (with that step's MLPs); the ACT of
        the latest save also to ``<out>/act.pt``, next to ``point_cloud/``, where the render scripts look for a
        trained ACT."""
        it_dir = save_scaffold(self.model, self.out, self.step)
        if self.colour is not None:
            paths = [it_dir / f"{self.cfg.colour}.pt", *([self.out / ACT_FILE] if self.cfg.colour == "act" else [])]
            for path in paths:
                with atomic_path(path) as tmp:
                    torch.save(self.colour.state_dict(), tmp)
        self.write_checkpoint({
            "voxel_size": self.voxel_size,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "colour": None if self.colour is None else self.colour.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "stats": [self.strategy_state[k].cpu() for k in STATS],
        })  # fmt: skip
        return it_dir

    def resume(self, path: str | Path | None = None) -> bool:
        """Continue from ``path`` or the latest ``ckpt_<N>.pt`` in the output folder; False if there is none."""
        if (ck := self.read_checkpoint(path)) is None:
            return False
        n = len(ck["model"]["anchors"])
        for name in ANCHOR_PARAMS:  # the anchors grew: resize before loading
            old = getattr(self.model, name)
            shape = (n, *old.shape[1:])
            setattr(self.model, name, nn.Parameter(torch.zeros(shape, device=self.device),
                                                   requires_grad=old.requires_grad))  # fmt: skip
        self.model.load_state_dict(ck["model"])
        self.voxel_size = float(ck["voxel_size"])
        if self.colour is not None:
            self.colour.load_state_dict(ck["colour"])
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(ck["optimizer"])
        self.strategy_state["voxel_size"] = self.voxel_size
        self.strategy_state.update({k: t.to(self.device) for k, t in zip(STATS, ck["stats"], strict=True)})
        return True
