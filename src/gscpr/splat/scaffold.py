"""Scaffold-GS scenes: anchors whose neural Gaussians are decoded per view by three small MLPs.

Each anchor has a position, a feature ``f [feat_dim]``, ``k`` offsets and a 6-D log scaling (3 for the offsets,
3 for its children's scales). For a view with camera centre ``c`` and an anchor at ``x``, the inputs are the
feature, the unit direction ``d = (x - c) / |x - c|`` and optionally the distance ``|x - c|``:

* opacity MLP  ``[f, d(, dist)] -> k`` (tanh); children with opacity <= 0 are dropped;
* colour MLP   ``[f, d(, dist)(, appearance)] -> 3k`` (sigmoid), RGB;
* cov MLP      ``[f, d(, dist)] -> 7k``: scales ``s[3:] * sigmoid(raw[:3])``, rotation ``normalize(raw[3:7])``;
* positions    ``x + offset * s[:3]``.

This is the GS-CPR / Scaffold-GS model as released (``point_cloud/iteration_<N>/point_cloud.ply`` with
``x y z nx ny nz f_offset_* f_anchor_feat_* opacity scale_0..5 rot_0..3``, offsets stored channel-major, and
TorchScript ``opacity_mlp.pt``, ``cov_mlp.pt``, ``color_mlp.pt`` (+ ``feature_bank_mlp.pt``,
``embedding_appearance.pt``), with the training options in ``cfg_args``). :func:`load_scaffold` and
:func:`save_scaffold` read and write exactly that format.

Visible-anchor culling: the original renders the coarse poses with every anchor (``render_dof`` is called
without a visibility mask). We drop anchors whose children cannot reach the view frustum (a sphere bound
on their offsets and child scales, tested against the frustum planes), which leaves the image unchanged.
"""

from __future__ import annotations

import ast
import copy
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..outputs import atomic_path, write_text
from .render import ViewGaussians

__all__ = [
    "CFG_ARGS_FIELDS",
    "ScaffoldConfig",
    "ScaffoldFormatError",
    "ScaffoldModel",
    "load_scaffold",
    "random_scaffold",
    "save_scaffold",
    "viewmat_camera_center",
]


class ScaffoldFormatError(ValueError):
    """A Scaffold-GS checkpoint that cannot be read; the message names the file and the problem."""


@dataclass
class ScaffoldConfig:
    """The model options of the original's ``cfg_args`` that decide the network shapes."""

    feat_dim: int = 32
    n_offsets: int = 10
    voxel_size: float = 0.001
    appearance_dim: int = 32
    use_feat_bank: bool = False
    add_opacity_dist: bool = False
    add_cov_dist: bool = False
    add_color_dist: bool = False
    white_background: bool = False
    extra: dict = field(default_factory=dict)  # every other cfg_args entry, written back unchanged

    def mlp_widths(self) -> dict[str, tuple[int, int]]:
        """``(inputs, outputs)`` of the opacity, cov and color MLPs: feature + view direction (+ distance)
        (+ appearance), and k, 7k, 3k outputs. Used to build, check and trace them."""
        base, k = self.feat_dim + 3, self.n_offsets
        return {
            "opacity": (base + int(self.add_opacity_dist), k),
            "cov": (base + int(self.add_cov_dist), 7 * k),
            "color": (base + int(self.add_color_dist) + self.appearance_dim, 3 * k),
        }

    KEYS = ("feat_dim", "n_offsets", "voxel_size", "appearance_dim", "use_feat_bank", "add_opacity_dist",
            "add_cov_dist", "add_color_dist", "white_background")  # fmt: skip

    @property
    def background(self) -> tuple[float, float, float]:
        """The render background ``cfg_args`` asks for: white when ``white_background`` is set, else black
        (the original's render scripts: ``bg_color = [1, 1, 1] if white_background else [0, 0, 0]``)."""
        return (1.0, 1.0, 1.0) if self.white_background else (0.0, 0.0, 0.0)


# The fields of the original's ``ModelParams`` (GS-CPR's ``ACT_Scaffold_GS/arguments/__init__.py``) with their
# defaults, in its order: its ``train.py`` / ``train_act.py`` write exactly these to ``cfg_args`` (the ``repr`` of
# an ``argparse.Namespace``) and its render scripts read them back with ``eval`` (``get_combined_args``), failing
# on any one that is missing. :func:`write_cfg_args` always writes all of them.
CFG_ARGS_FIELDS: dict[str, object] = {
    "sh_degree": 3, "feat_dim": 32, "n_offsets": 10, "voxel_size": 0.001, "update_depth": 3,
    "update_init_factor": 16, "update_hierachy_factor": 4, "use_feat_bank": False, "source_path": "",
    "model_path": "", "images": "images", "resolution": -1, "white_background": False, "data_device": "cuda",
    "eval": False, "lod": 0, "appearance_dim": 32, "lowpoly": False, "ds": 1, "ratio": 1, "undistorted": False,
    "add_opacity_dist": False, "add_cov_dist": False, "add_color_dist": False,
}  # fmt: skip


def viewmat_camera_center(viewmat: Tensor) -> Tensor:
    """The camera centre ``[3]`` in world coordinates of a w2c ``viewmat [4, 4]`` (``-R^T t``): the torch form of
    :func:`gscpr.geometry.camera_center`, for views already on the device."""
    return -viewmat[:3, :3].T @ viewmat[:3, 3]


def _mlp(n_in: int, hidden: int, n_out: int, out_act: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU(True), nn.Linear(hidden, n_out)]
    return nn.Sequential(*layers, *([out_act] if out_act is not None else []))


class ScaffoldModel(nn.Module):
    """A Scaffold-GS scene. Parameters are raw (pre-activation), as trained and stored.

    Attributes:
        anchors: ``[M, 3]``; features ``[M, feat_dim]``; offsets ``[M, k, 3]``; log_scaling ``[M, 6]``;
        opacity_logits ``[M, 1]`` and rotations ``[M, 4]`` (stored for format compatibility, unused by the
        decoder); mlp_opacity, mlp_cov, mlp_color (+ mlp_feature_bank, embedding_appearance).
        appearance_index: the appearance embedding row used for novel views (the original's renderer of
        coarse poses uses camera uid 0).
    """

    view_dependent_set = True

    def __init__(self, num_anchors: int, config: ScaffoldConfig | None = None):
        super().__init__()
        cfg = config or ScaffoldConfig()
        self.config = cfg
        k, f = cfg.n_offsets, cfg.feat_dim
        self.anchors = nn.Parameter(torch.zeros(num_anchors, 3))
        self.features = nn.Parameter(torch.zeros(num_anchors, f))
        self.offsets = nn.Parameter(torch.zeros(num_anchors, k, 3))
        self.log_scaling = nn.Parameter(torch.zeros(num_anchors, 6))
        self.opacity_logits = nn.Parameter(torch.zeros(num_anchors, 1))
        self.rotations = nn.Parameter(torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(num_anchors, 1))
        widths = cfg.mlp_widths()
        self.mlp_opacity: nn.Module = _mlp(widths["opacity"][0], f, widths["opacity"][1], nn.Tanh())
        self.mlp_cov: nn.Module = _mlp(widths["cov"][0], f, widths["cov"][1], None)
        self.mlp_color: nn.Module = _mlp(widths["color"][0], f, widths["color"][1], nn.Sigmoid())
        self.mlp_feature_bank: nn.Module | None = (
            nn.Sequential(nn.Linear(4, f), nn.ReLU(True), nn.Linear(f, 3), nn.Softmax(dim=1))
            if cfg.use_feat_bank
            else None
        )
        self.embedding_appearance: nn.Module | None = None  # created by training or loading: one row per camera
        self.appearance_index = 0

    @property
    def device(self) -> torch.device:
        return self.anchors.device

    @property
    def background(self) -> tuple[float, float, float]:
        """The background its ``cfg_args`` asks for (``white_background``); ``gscpr.splat.render.render`` uses it
        when the caller gives none, an explicit background wins."""
        return self.config.background

    def __len__(self) -> int:
        return self.anchors.shape[0]

    # ------------------------------------------------------------------ decoding
    def visible_anchors(self, viewmat: Tensor, K: Tensor, width: int, height: int, near: float = 0.01) -> Tensor:
        """Boolean mask ``[M]`` of anchors whose children may touch the view (conservative frustum test)."""
        scaling = torch.exp(self.log_scaling)
        reach = self.offsets.norm(dim=-1).amax(dim=1) * scaling[:, :3].amax(dim=1) + 3.0 * scaling[:, 3:].amax(dim=1)
        p = self.anchors @ viewmat[:3, :3].T + viewmat[:3, 3]
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        # Side planes through the camera centre and the image borders (continuous convention), as unit normals.
        x_lo, x_hi, y_lo, y_hi = -cx / fx, (width - cx) / fx, -cy / fy, (height - cy) / fy
        inside = p[:, 2] > near - reach
        for a, sign, col in ((x_lo, -1, 0), (x_hi, 1, 0), (y_lo, -1, 1), (y_hi, 1, 1)):
            # Plane: sign * (p[col] - a * z) = 0; signed distance to it, positive outside the frustum.
            n = torch.zeros(3, device=p.device, dtype=p.dtype)
            n[col], n[2] = sign, -sign * a
            inside &= (p @ n) / n.norm() < reach
        return inside

    def decode(self, camera_center: Tensor, mask: Tensor | None = None) -> ViewGaussians:
        """The neural Gaussians of the (masked) anchors seen from ``camera_center [3]``."""
        return self.decode_children(camera_center, mask)[0]

    def decode_children(
        self, camera_center: Tensor, mask: Tensor | None = None, appearance_index: int | None = None
    ) -> tuple[ViewGaussians, Tensor, Tensor]:
        """:meth:`decode`, plus what training needs: the opacity of every child of the masked anchors
        ``[M' k]`` (before dropping those <= 0) and the mask ``[M' k]`` of the children kept. Training
        views use their own appearance row; others ``appearance_index``."""
        anchors, feat = self.anchors, self.features
        offsets, scaling = self.offsets, torch.exp(self.log_scaling)
        if mask is not None:
            anchors, feat, offsets, scaling = anchors[mask], feat[mask], offsets[mask], scaling[mask]
        k = self.config.n_offsets
        view = anchors - camera_center
        dist = view.norm(dim=1, keepdim=True)
        view = view / dist
        if self.mlp_feature_bank is not None:
            # Multi-resolution feature: blend the feature at strides 4, 2 and 1 with view-dependent weights.
            w = self.mlp_feature_bank(torch.cat([view, dist], dim=1)).unsqueeze(1)  # [M, 1, 3]
            f = feat.unsqueeze(-1)
            feat = (
                f[:, ::4, :1].repeat(1, 4, 1) * w[:, :, :1]
                + f[:, ::2, :1].repeat(1, 2, 1) * w[:, :, 1:2]
                + f[:, ::1, :1] * w[:, :, 2:]
            ).squeeze(-1)
        with_dist = torch.cat([feat, view, dist], dim=1)
        without = torch.cat([feat, view], dim=1)
        cfg = self.config
        opacity = self.mlp_opacity(with_dist if cfg.add_opacity_dist else without).reshape(-1)
        color_in = with_dist if cfg.add_color_dist else without
        if cfg.appearance_dim > 0:
            if self.embedding_appearance is None:
                raise RuntimeError("the model has appearance_dim > 0 but no appearance embedding")
            row = self.appearance_index if appearance_index is None else appearance_index
            idx = torch.full((len(anchors),), row, dtype=torch.long, device=anchors.device)
            color_in = torch.cat([color_in, self.embedding_appearance(idx)], dim=1)
        color = self.mlp_color(color_in).reshape(-1, 3)
        scale_rot = self.mlp_cov(with_dist if cfg.add_cov_dist else without).reshape(-1, 7)
        keep = opacity > 0.0
        scaling_rep = scaling.repeat_interleave(k, dim=0)[keep]
        anchor_rep = anchors.repeat_interleave(k, dim=0)[keep]
        scale_rot = scale_rot[keep]
        view = ViewGaussians(
            means=anchor_rep + offsets.reshape(-1, 3)[keep] * scaling_rep[:, :3],
            quats=torch.nn.functional.normalize(scale_rot[:, 3:7], dim=-1),
            scales=scaling_rep[:, 3:] * torch.sigmoid(scale_rot[:, :3]),
            opacities=opacity[keep],
            colors=color[keep],
            sh_degree=None,
        )
        return view, opacity, keep

    def gaussians_for_view(self, viewmat: Tensor, K: Tensor, width: int, height: int) -> ViewGaussians:
        """The scene model interface of ``render``: decode the anchors that can reach this view."""
        return self.decode(viewmat_camera_center(viewmat), self.visible_anchors(viewmat, K, width, height))


# ----------------------------------------------------------------------------- files
def _ply_names(cfg: ScaffoldConfig) -> list[str]:
    return [
        "x", "y", "z", "nx", "ny", "nz", *[f"f_offset_{i}" for i in range(3 * cfg.n_offsets)],
        *[f"f_anchor_feat_{i}" for i in range(cfg.feat_dim)], "opacity", *[f"scale_{i}" for i in range(6)],
        *[f"rot_{i}" for i in range(4)],
    ]  # fmt: skip


def read_cfg_args(path: Path) -> ScaffoldConfig:
    """The ``cfg_args`` file (a ``Namespace(...)`` repr), parsed with ``ast`` (never evaluated)."""
    text = path.read_text(encoding="utf-8").strip()
    try:
        call = ast.parse(text, mode="eval").body
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Namespace"):
            raise ValueError("not a Namespace(...)")
        values = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError) as e:
        raise ScaffoldFormatError(f"{path}: cannot parse cfg_args ({e})") from None
    cfg = ScaffoldConfig()
    for key in ScaffoldConfig.KEYS:
        if key in values:
            setattr(cfg, key, type(getattr(cfg, key))(values.pop(key)))
    cfg.extra = values
    return cfg


def write_cfg_args(path: Path, cfg: ScaffoldConfig) -> None:
    """Write ``cfg`` as the original's ``cfg_args``: ``Namespace(k=v, ...)`` (``repr`` of an
    ``argparse.Namespace``, which the original's tools ``eval``) with every :data:`CFG_ARGS_FIELDS` entry in the
    original's order (``cfg``'s values, then ``cfg.extra``'s, then the original's defaults), then any other
    ``cfg.extra`` entry (kept from a released file) in name order."""
    values = {**CFG_ARGS_FIELDS, **cfg.extra, **{k: getattr(cfg, k) for k in ScaffoldConfig.KEYS}}
    order = [*CFG_ARGS_FIELDS, *sorted(k for k in values if k not in CFG_ARGS_FIELDS)]
    write_text(path, "Namespace(" + ", ".join(f"{k}={values[k]!r}" for k in order) + ")")


def _latest_iteration(model_dir: Path) -> int:
    its = [
        int(m.group(1))
        for p in (model_dir / "point_cloud").glob("iteration_*")
        if (m := re.fullmatch(r"iteration_(\d+)", p.name))
    ]
    if not its:
        raise ScaffoldFormatError(f"{model_dir / 'point_cloud'}: no iteration_<N> folder")
    return max(its)


def load_scaffold(
    model_dir: str | Path, iteration: int | None = None, device: str | torch.device = "cpu"
) -> ScaffoldModel:
    """Load a Scaffold-GS model saved by the original code (or :func:`save_scaffold`).

    ``model_dir`` holds ``cfg_args`` and ``point_cloud/iteration_<N>/``; the latest iteration by default. The
    model's :attr:`ScaffoldModel.background` is white when ``cfg_args`` says ``white_background=True`` (black
    without ``cfg_args``): renders use it unless the caller passes a background, which wins.
    """
    from plyfile import PlyData

    model_dir = Path(model_dir)
    cfg = read_cfg_args(model_dir / "cfg_args") if (model_dir / "cfg_args").is_file() else ScaffoldConfig()
    it_dir = (
        model_dir / "point_cloud" / f"iteration_{iteration if iteration is not None else _latest_iteration(model_dir)}"
    )
    ply_path = it_dir / "point_cloud.ply"
    if not ply_path.is_file():
        raise ScaffoldFormatError(f"{ply_path}: no such file")
    try:
        v = PlyData.read(str(ply_path))["vertex"]
    except Exception as e:  # plyfile raises several types for corrupt files
        raise ScaffoldFormatError(f"{ply_path}: not a readable PLY with a vertex element ({e})") from None
    names = {p.name for p in v.properties}
    n_off = sum(n.startswith("f_offset_") for n in names)
    n_feat = sum(n.startswith("f_anchor_feat_") for n in names)
    if n_off == 0 or n_off % 3 or n_feat == 0:
        raise ScaffoldFormatError(
            f"{ply_path}: no f_offset_* / f_anchor_feat_* properties; not a Scaffold-GS anchor PLY"
        )
    cfg.n_offsets, cfg.feat_dim = n_off // 3, n_feat
    missing = [n for n in _ply_names(cfg) if n not in names and not n.startswith("n")]
    if missing:
        raise ScaffoldFormatError(f"{ply_path}: missing vertex properties {missing[:6]}")

    def cols(prefix_names: list[str]) -> Tensor:
        return torch.from_numpy(np.stack([np.asarray(v[n], dtype=np.float32) for n in prefix_names], axis=1))

    model = ScaffoldModel(v.count, cfg)
    with torch.no_grad():
        model.anchors.copy_(cols(["x", "y", "z"]))
        # Offsets are stored channel-major: f_offset_{c * k + j} is coordinate c of offset j.
        model.offsets.copy_(cols([f"f_offset_{i}" for i in range(n_off)]).reshape(-1, 3, cfg.n_offsets).transpose(1, 2))
        model.features.copy_(cols([f"f_anchor_feat_{i}" for i in range(n_feat)]))
        model.opacity_logits.copy_(cols(["opacity"]))
        model.log_scaling.copy_(cols([f"scale_{i}" for i in range(6)]))
        model.rotations.copy_(cols([f"rot_{i}" for i in range(4)]))
    for attr, file, needed in (
        ("mlp_opacity", "opacity_mlp.pt", True),
        ("mlp_cov", "cov_mlp.pt", True),
        ("mlp_color", "color_mlp.pt", True),
        ("mlp_feature_bank", "feature_bank_mlp.pt", cfg.use_feat_bank),
        ("embedding_appearance", "embedding_appearance.pt", cfg.appearance_dim > 0),
    ):
        if not needed:
            continue
        path = it_dir / file
        if not path.is_file():
            raise ScaffoldFormatError(f"{path}: no such file (needed by the model's cfg_args)")
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated, but it is the released format
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as e:
            raise ScaffoldFormatError(f"{path}: not a TorchScript module ({e})") from None
        setattr(model, attr, module)
    _check_mlp_shapes(model, it_dir)
    return model.to(device).eval()


def _check_mlp_shapes(model: ScaffoldModel, where: Path) -> None:
    cfg = model.config
    mlps = {"opacity": model.mlp_opacity, "cov": model.mlp_cov, "color": model.mlp_color}
    for key, (n_in, n_out) in cfg.mlp_widths().items():
        name, mlp = f"{key}_mlp.pt", mlps[key]
        try:
            out = mlp(torch.zeros(1, n_in))
        except RuntimeError as e:
            raise ScaffoldFormatError(
                f"{where / name}: does not take {n_in} inputs as cfg_args implies ({e})"
            ) from None
        if out.shape[-1] != n_out:
            raise ScaffoldFormatError(f"{where / name}: gives {out.shape[-1]} outputs, expected {n_out}")


def save_scaffold(model: ScaffoldModel, model_dir: str | Path, iteration: int) -> Path:
    """Write ``cfg_args`` and ``point_cloud/iteration_<N>/`` in the original's format; returns that folder."""
    from plyfile import PlyData, PlyElement

    cfg = model.config
    model_dir = Path(model_dir)
    it_dir = model_dir / "point_cloud" / f"iteration_{iteration}"
    it_dir.mkdir(parents=True, exist_ok=True)
    write_cfg_args(model_dir / "cfg_args", cfg)
    with torch.no_grad():
        m = len(model)
        data = torch.cat(
            [
                model.anchors, torch.zeros(m, 3, device=model.device),
                model.offsets.transpose(1, 2).reshape(m, -1), model.features, model.opacity_logits,
                model.log_scaling, model.rotations,
            ],
            dim=1,
        ).cpu().numpy().astype(np.float32)  # fmt: skip
    vertex = np.empty(m, dtype=[(n, "f4") for n in _ply_names(cfg)])
    for i, n in enumerate(_ply_names(cfg)):
        vertex[n] = data[:, i]
    with atomic_path(it_dir / "point_cloud.ply") as tmp:
        PlyData([PlyElement.describe(vertex, "vertex")]).write(str(tmp))
    widths = cfg.mlp_widths()
    for module, file, example in (
        # Zeros, not random examples: tracing must not draw from the generator a training run is using.
        (model.mlp_opacity, "opacity_mlp.pt", torch.zeros(1, widths["opacity"][0])),
        (model.mlp_cov, "cov_mlp.pt", torch.zeros(1, widths["cov"][0])),
        (model.mlp_color, "color_mlp.pt", torch.zeros(1, widths["color"][0])),
        (model.mlp_feature_bank, "feature_bank_mlp.pt", torch.zeros(1, 4)),
        (model.embedding_appearance, "embedding_appearance.pt", torch.zeros(1, dtype=torch.long)),
    ):
        if module is None:
            continue
        module = copy.deepcopy(module).cpu().eval()  # trace on the CPU, as a device-independent file
        with warnings.catch_warnings():  # TorchScript is deprecated, but it is the released format
            warnings.simplefilter("ignore", FutureWarning)
            traced = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.trace(module, example)
            # Serialised in memory and written by Python: TorchScript's own file writer aborts the process on a
            # full disk (a C++ exception nothing can catch); this write fails with an OSError naming the file.
            buffer = io.BytesIO()
            torch.jit.save(traced, buffer)
        with atomic_path(it_dir / file) as tmp:
            tmp.write_bytes(buffer.getvalue())
    return it_dir


def random_scaffold(
    num_anchors: int, n_offsets: int = 10, appearance_dim: int = 0, seed: int = 0, device: str | torch.device = "cpu",
    extent: float = 3.0,
) -> ScaffoldModel:  # fmt: skip
    """A random Scaffold-GS scene for tests and benchmarks: anchors in a cube of side ``extent``."""
    g = torch.Generator().manual_seed(seed)
    cfg = ScaffoldConfig(n_offsets=n_offsets, appearance_dim=appearance_dim)
    model = ScaffoldModel(num_anchors, cfg)
    with torch.no_grad():
        model.anchors.copy_((torch.rand(num_anchors, 3, generator=g) - 0.5) * extent)
        model.features.copy_(torch.randn(num_anchors, cfg.feat_dim, generator=g))
        model.offsets.copy_(torch.randn(num_anchors, n_offsets, 3, generator=g))
        spacing = extent / max(num_anchors, 1) ** (1 / 3)
        model.log_scaling.copy_(torch.full((num_anchors, 6), float(np.log(spacing / 2))))
        for mlp in (model.mlp_opacity, model.mlp_cov, model.mlp_color):
            for layer in mlp:
                if isinstance(layer, nn.Linear):
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) / layer.in_features**0.5)
                    layer.bias.copy_(torch.randn(layer.bias.shape, generator=g) * 0.1)
        model.mlp_opacity[2].bias.add_(0.5)  # mostly visible children
    if appearance_dim:
        model.embedding_appearance = nn.Embedding(4, appearance_dim)
    return model.to(device).eval()
