"""ACT: the exposure-adaptive affine colour transform GS-CPR applies to Cambridge renders.

The query's luminance histogram (10 bins of Y = 0.299 R + 0.587 G + 0.114 B over [0, 1], in percent, rounded)
goes through an MLP (10 -> 32 -> 32 -> 32 -> 12, ReLU, no output activation) whose 12 outputs are a 3x3 matrix
``A`` (row-major) and a bias ``b``; the render becomes ``sigmoid(A @ rgb + b)`` per pixel.

The released code applies it to a channel-first image reshaped as if it were pixel-major, so its "RGB" triples
are three neighbouring pixels of one channel. ``legacy_layout=True`` reproduces that, for the released weights,
which were trained with it.

The released checkpoints (``logs/paper_models/<Scene>/030000.tar``) hold the MLP as tiny-cuda-nn
``FullyFusedMLP`` parameters: one flat (half-precision) vector ``network_fn_state_dict["exposure_embedding.
params"]`` with the bias-free weight matrices, each row-major ``[out, in]``, in order: input layer
``[32, 16]`` (the 10 inputs are padded to 16 by tiny-cuda-nn's identity encoding with the constant 1, so the
6 padded columns act as a bias), two hidden layers ``[32, 32]`` and the output layer ``[16, 32]`` (12
outputs padded to 16). :func:`tcnn_layers` is the one place this layout is assumed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["ACT_FILE", "ACTModule", "apply_act", "load_act_checkpoint", "luminance_histogram", "tcnn_layers"]

N_BINS = 10
WIDTH = 32
N_HIDDEN = 3
N_OUT = 12
TCNN_KEY = "exposure_embedding.params"
#: Where ``gscpr train --act`` leaves the trained ACT: ``<model dir>/act.pt``, next to ``point_cloud/`` (an
#: :class:`ACTModule` state dict of the latest saved step, trained with the per-pixel layout, not the legacy one).
ACT_FILE = "act.pt"


def luminance_histogram(image: Tensor | np.ndarray) -> Tensor:
    """``[10]`` histogram of luma in percent, rounded, from an RGB image ``[H, W, 3]`` in [0, 1] (or uint8)."""
    img = torch.as_tensor(np.asarray(image) if not isinstance(image, Tensor) else image)
    if img.dtype == torch.uint8:
        img = img.float() / 255.0
    if img.dim() != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {tuple(img.shape)}")
    y = 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
    hist = torch.histc(y.float(), bins=N_BINS, min=0.0, max=1.0)
    return torch.round(hist / hist.sum() * 100.0)


class ACTModule(nn.Module):
    """The histogram -> affine-colour-transform MLP, as plain PyTorch (bias-free layers, like tiny-cuda-nn).

    ``forward(hist [B, 10]) -> [B, 12]``. The constant-1 padding of tiny-cuda-nn's input is kept as
    ``input_pad`` ones so that converted weights give identical outputs.
    """

    def __init__(self, input_pad: int = 6):
        super().__init__()
        self.input_pad = input_pad
        dims = [N_BINS + input_pad, *[WIDTH] * N_HIDDEN, N_OUT]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, hist: Tensor) -> Tensor:
        x = torch.cat([hist.float(), hist.new_ones(hist.shape[0], self.input_pad, dtype=torch.float32)], dim=1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def transform_for(self, query_image: Tensor | np.ndarray, legacy_layout: bool = False):
        """A function ``rgb [H, W, 3] -> rgb`` applying this query's colour transform to a render."""
        with torch.no_grad():
            params = self(luminance_histogram(query_image)[None].to(self.layers[0].weight.device))[0]
        return lambda rgb: apply_act(rgb, params, legacy_layout)


def apply_act(rgb: Tensor, params: Tensor, legacy_layout: bool = False) -> Tensor:
    """``sigmoid(A @ rgb + b)`` per pixel of ``rgb [H, W, 3]``; ``params [12]`` = A (row-major 3x3), b.

    With ``legacy_layout`` the image is taken channel-first and its flat memory read as triples, as the
    released code does; the output is returned as ``[H, W, 3]`` either way.
    """
    if params.numel() != N_OUT:
        raise ValueError(f"ACT parameters must have 12 values (3x3 matrix + bias), got {params.numel()}")
    A, b = params[:9].reshape(3, 3).to(rgb.dtype), params[9:].to(rgb.dtype)
    H, W, _ = rgb.shape
    if legacy_layout:
        triples = rgb.permute(2, 0, 1).reshape(-1, 3)  # [3, H, W] memory read three values at a time
        return torch.sigmoid(triples @ A.T + b).reshape(3, H, W).permute(1, 2, 0)
    return torch.sigmoid(rgb @ A.T + b)


def tcnn_layers(params: Tensor, n_in: int = N_BINS, n_out: int = N_OUT, width: int = WIDTH, n_hidden: int = N_HIDDEN):
    """Split tiny-cuda-nn FullyFusedMLP parameters into weight matrices ``[out, in]`` (padding included).

    The input width is padded to a multiple of 16, the output to a multiple of 16; the padded output rows are
    dropped here. Raises ``ValueError`` if the parameter count does not match the architecture.
    """
    pad16 = lambda n: (n + 15) // 16 * 16  # noqa: E731
    shapes = [(width, pad16(n_in)), *[(width, width)] * (n_hidden - 1), (pad16(n_out), width)]
    expected = sum(a * b for a, b in shapes)
    flat = params.reshape(-1).float()
    if flat.numel() != expected:
        raise ValueError(
            f"{flat.numel()} parameters, but a {n_in}-{width}x{n_hidden}-{n_out} FullyFusedMLP has {expected}"
        )
    out, offset = [], 0
    for rows, cols in shapes:
        out.append(flat[offset : offset + rows * cols].reshape(rows, cols))
        offset += rows * cols
    out[-1] = out[-1][:n_out]
    return out


def load_act_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ACTModule:
    """The ACT MLP of a released checkpoint (``030000.tar``, converted from tiny-cuda-nn; no tcnn needed) or of
    one trained here (``act.pt``, an :class:`ACTModule` state dict, written by ``gscpr train --act``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ACT checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or foreign files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__  # torch writes paragraphs
        raise ValueError(f"{path}: cannot read the checkpoint ({first})") from None
    state = ckpt.get("network_fn_state_dict", ckpt) if isinstance(ckpt, dict) else {}
    if "layers.0.weight" in state:  # ours
        module = ACTModule(input_pad=state["layers.0.weight"].shape[1] - N_BINS)
        try:
            module.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"{path}: not an ACT module state ({e})") from None
        return module.to(device).eval()
    if TCNN_KEY not in state:
        raise ValueError(f"{path}: no '{TCNN_KEY}' in network_fn_state_dict; not a GS-CPR ACT checkpoint")
    try:
        weights = tcnn_layers(state[TCNN_KEY])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    module = ACTModule(input_pad=weights[0].shape[1] - N_BINS)
    with torch.no_grad():
        for layer, w in zip(module.layers, weights, strict=True):
            layer.weight.copy_(w)
    return module.to(device).eval()
