"""Scaffold-GS's anchor growing and pruning as a strategy object, called where gsplat's ``DefaultStrategy`` and
``MCMCStrategy`` are: ``step_pre_backward`` after the render, ``step_post_backward`` after the optimizer step.

What it does (the original's ``city-super/Scaffold-GS`` rule, as GS-CPR trains its maps):

* statistics from step ``start_stat`` to ``update_until`` (exclusive): per child, the norm of its view-space
  position gradient (in NDC units, as the original rasterizer reports it) and how often it was seen; per anchor,
  the opacity of its children and how often it was visible;
* every ``update_interval`` steps after ``update_from``: anchor growing on ``update_depth`` levels (children
  whose mean gradient passes ``grow_grad * (hierarchy_factor // 2)^i``, a random half / quarter / eighth of
  them, become anchors at the centres of voxels of ``voxel_size * update_init_factor // hierarchy_factor^i``
  that hold no anchor yet, with the largest feature of the children that fell in them) and pruning of anchors
  whose children's mean opacity stays under ``min_opacity``; the children's log-scale factors are then capped
  at 0.05, as the original does on every update.

Two things differ from the original, knowingly: a growth level whose voxel would be smaller than ``voxel_size``
(``update_init_factor // hierarchy_factor^i == 0``, e.g. GS-CPR's factor 4 at the third level, which divides
by a zero voxel size there) uses ``voxel_size``; and each level is tried even when the previous one added
nothing (the original then skips the remaining levels).

Unlike gsplat's strategies, which edit a ``ParameterDict`` and one optimizer per parameter, this one edits the
anchor-level parameters of a :class:`~gscpr.splat.scaffold.ScaffoldModel` (``ANCHOR_PARAMS``) and the groups of
the trainer's one Adam that are named after them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import partial

import torch
from torch import Tensor, nn

from ..splat.scaffold import ScaffoldModel

__all__ = ["ANCHOR_PARAMS", "ScaffoldStrategy"]

# Anchor-level parameters: pruned and grown with the anchors (the MLPs are not).
ANCHOR_PARAMS = ("anchors", "features", "offsets", "log_scaling", "opacity_logits", "rotations")
# The statistics a strategy state holds, in the order checkpoints store them.
STATS = ("opacity_accum", "anchor_denom", "offset_grad_accum", "offset_denom")


@dataclass
class ScaffoldStrategy:
    """Anchor growing and pruning; the options are :class:`~gscpr.training.scaffold.ScaffoldTrainConfig`'s
    (:meth:`from_config`), with the same names. Steps count from 1, as the original's do."""

    start_stat: int
    update_from: int
    update_interval: int
    update_until: int
    min_opacity: float
    success_threshold: float
    grow_grad: float
    update_depth: int
    update_init_factor: int
    hierarchy_factor: int

    @classmethod
    def from_config(cls, cfg) -> ScaffoldStrategy:
        """The strategy a training config asks for (any object with these fields' names)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})

    def initialize_state(self, model: ScaffoldModel, voxel_size: float) -> dict:
        """Zero statistics for ``model``'s anchors and children, and the grid ``voxel_size`` growth starts from."""
        state: dict = {"voxel_size": float(voxel_size)}
        self.reset(model, state)
        return state

    def reset(self, model: ScaffoldModel, state: dict) -> None:
        """Zero statistics sized for ``model``: ``[M]`` per anchor, ``[M * k]`` per child."""
        M, k = len(model), model.config.n_offsets
        z = lambda n: torch.zeros(n, device=model.device)  # noqa: E731
        state.update(opacity_accum=z(M), anchor_denom=z(M), offset_grad_accum=z(M * k), offset_denom=z(M * k))

    def collecting(self, step: int) -> bool:
        """Whether step ``step`` (from 1) gathers statistics."""
        return self.start_stat < step < self.update_until

    def step_pre_backward(self, model: ScaffoldModel, optimizer, state: dict, step: int, info: dict) -> None:
        """Keep the gradient of the 2D means (``info["means2d"]``) when this step gathers statistics."""
        if self.collecting(step):
            info["means2d"].retain_grad()

    def step_post_backward(self, model: ScaffoldModel, optimizer, state: dict, step: int, info: dict) -> None:
        """Gather this step's statistics and, every ``update_interval`` steps, grow and prune the anchors.

        ``info`` is the rasterizer's (``means2d`` with its gradient, ``radii``, ``width``, ``height``) plus what
        the decoder returned: ``child_opacity [V * k]`` (before children were dropped), ``kept [V * k]`` (the
        children rasterized) and ``visible [M]`` (the anchors decoded, V of them)."""
        if self.collecting(step):
            self._accumulate(model, state, info)
            if step > self.update_from and step % self.update_interval == 0:
                self.adjust_anchors(model, optimizer, state)
        elif step == self.update_until:
            self.reset(model, state)  # growth is over

    @torch.no_grad()
    def _accumulate(self, model: ScaffoldModel, state: dict, info: dict) -> None:
        k, visible = model.config.n_offsets, info["visible"]
        state["opacity_accum"][visible] += info["child_opacity"].detach().clamp_min(0).view(-1, k).sum(dim=1)
        state["anchor_denom"][visible] += 1
        grad = info["means2d"].grad
        if grad is None:
            return
        radii = info["radii"][0]
        seen = (radii > 0).all(dim=-1) if radii.dim() == 2 else radii > 0
        # Pixel gradients to the NDC gradients the original thresholds (x: W / 2, y: H / 2).
        norm = (grad[0] * torch.tensor([info["width"] / 2.0, info["height"] / 2.0], device=grad.device)).norm(dim=-1)
        children = (visible.nonzero()[:, 0, None] * k + torch.arange(k, device=visible.device)).reshape(-1)
        children = children[info["kept"]]
        state["offset_grad_accum"].index_add_(0, children[seen], norm[seen])
        state["offset_denom"].index_add_(0, children[seen], torch.ones_like(norm[seen]))

    # ------------------------------------------------------------------ growing and pruning
    @torch.no_grad()
    def adjust_anchors(self, model: ScaffoldModel, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """One growth and pruning update of ``model`` (and ``optimizer``'s moments) from the statistics in
        ``state`` gathered since the last one; the statistics are resized to the new anchors."""
        k = model.config.n_offsets
        grads = torch.nan_to_num(state["offset_grad_accum"] / state["offset_denom"], nan=0.0)
        ready = state["offset_denom"] > self.update_interval * self.success_threshold * 0.5
        M0 = len(model)
        self._grow(model, optimizer, state["voxel_size"], grads, ready)
        added = len(model) - M0
        state["offset_denom"][ready], state["offset_grad_accum"][ready] = 0, 0
        for name, n in (("offset_denom", added * k), ("offset_grad_accum", added * k), ("opacity_accum", added),
                        ("anchor_denom", added)):  # fmt: skip
            state[name] = _pad_rows(state[name], n)
        checked = state["anchor_denom"] > self.update_interval * self.success_threshold
        prune = (state["opacity_accum"] < self.min_opacity * state["anchor_denom"]) & checked
        state["opacity_accum"][checked], state["anchor_denom"][checked] = 0, 0
        keep = ~prune
        state["opacity_accum"], state["anchor_denom"] = state["opacity_accum"][keep], state["anchor_denom"][keep]
        child_keep = keep.repeat_interleave(k)
        state["offset_grad_accum"] = state["offset_grad_accum"][child_keep]
        state["offset_denom"] = state["offset_denom"][child_keep]
        _set_anchor_params(model, optimizer, {n: getattr(model, n).data[keep] for n in ANCHOR_PARAMS},
                           lambda t: t[keep])  # fmt: skip
        model.log_scaling[:, 3:].clamp_(max=0.05)  # the original caps these on every update

    def _grow(self, model: ScaffoldModel, optimizer, voxel_size: float, grads: Tensor, ready: Tensor) -> None:
        m, k, device = model, model.config.n_offsets, model.device
        children = (m.anchors[:, None] + m.offsets * torch.exp(m.log_scaling[:, None, :3])).reshape(-1, 3)
        feats = m.features.repeat_interleave(k, dim=0)
        for level in range(self.update_depth):
            threshold = self.grow_grad * (self.hierarchy_factor // 2) ** level
            picked = (grads >= threshold) & ready
            picked &= torch.rand(len(picked), device=device) > 0.5 ** (level + 1)
            if not bool(picked.any()):
                continue
            size = voxel_size * max(self.update_init_factor // self.hierarchy_factor**level, 1)
            cells, inverse = torch.unique(torch.round(children[picked] / size).long(), dim=0, return_inverse=True)
            existing = torch.round(m.anchors / size).long()
            # A cell is new when no current anchor (grown at earlier levels included) lies in it.
            _, idx, counts = torch.unique(torch.cat([existing, cells]), dim=0, return_inverse=True, return_counts=True)
            new = counts[idx[len(existing) :]] == 1
            if not bool(new.any()):
                continue
            f = feats[picked]
            best = torch.zeros(len(cells), f.shape[1], device=device).scatter_reduce(
                0, inverse[:, None].expand(-1, f.shape[1]), f, reduce="amax", include_self=False
            )
            n = int(new.sum())
            values = {
                "anchors": cells[new].float() * size,
                "features": best[new],
                "offsets": torch.zeros(n, k, 3, device=device),
                "log_scaling": torch.full((n, 6), math.log(size), device=device),
                "opacity_logits": torch.full((n, 1), math.log(0.1 / 0.9), device=device),
                "rotations": torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=device).repeat(n, 1),
            }
            values = {name: torch.cat([getattr(m, name).data, v]) for name, v in values.items()}
            _set_anchor_params(m, optimizer, values, partial(_pad_rows, n=n))  # new anchors start with zero moments


def _set_anchor_params(model: ScaffoldModel, optimizer: torch.optim.Optimizer, values: dict[str, Tensor],
                       moments) -> None:  # fmt: skip
    """Install new anchor-level parameters ``values`` (one per ``ANCHOR_PARAMS``) in ``model`` and map the Adam
    moments of the old ones (in ``optimizer``'s groups named after them) to the new rows with ``moments(m)``."""
    groups = {g["name"]: g for g in optimizer.param_groups}
    for name in ANCHOR_PARAMS:
        old = getattr(model, name)
        new = nn.Parameter(values[name], requires_grad=old.requires_grad)
        if name in groups:
            state = optimizer.state.pop(old, None)
            if state:
                state["exp_avg"] = moments(state["exp_avg"])
                state["exp_avg_sq"] = moments(state["exp_avg_sq"])
                optimizer.state[new] = state
            groups[name]["params"][0] = new
        setattr(model, name, new)


def _pad_rows(t: Tensor, n: int) -> Tensor:
    """``t`` with ``n`` rows of zeros appended."""
    return torch.cat([t, t.new_zeros(n, *t.shape[1:])])
