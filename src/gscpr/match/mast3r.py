"""MASt3R (Leroy et al., ECCV 2024): the paper's matcher, run with the real ``mast3r`` package (a git clone on
``PYTHONPATH``; it has no installer) and a checkpoint from the local Hugging Face cache or a ``.pth`` file.

The recipe is the original's (``gs_cpr_7s.py``): each image's long side resized to 512 and centre-cropped to
multiples of 16 (as DUSt3R's ``load_images``), reciprocal nearest neighbours of the 24-D descriptors seeded on an
8-px grid of the render, matches within 3 px of a border dropped, and the keypoints mapped back to full
resolution. Two options choose between the original exactly and the project's fixes:

* ``resize="pil"``: the original's resampling, PIL on the 8-bit image (LANCZOS when shrinking, BICUBIC when
  enlarging); ``"torch"`` (default): antialiased bicubic on the float image, on the device.
* ``keypoints="original"``: the original's mapping, integer pixels: with ``s = W / w_crop``,
  ``floor(x s)`` and ``floor((y + int((H / s - h_crop) / 2)) s)`` (gs_cpr_12s.py's, which undoes 12-Scenes' crop
  to the pixel; on 7-Scenes and Cambridge, where nothing is cropped, it is gs_cpr_7s.py's and gs_cpr_cam.py's
  ``floor(x W / w)``, ``floor(y H / h)``); ``"exact"`` (default): sub-pixel, the crop and each axis' own resize
  undone, pixel-index convention.

The network runs on the matcher's device and its outputs stay there: the nearest neighbours run on the same
device (:func:`reciprocal_nn`; :func:`reciprocal_nn_mast3r` is mast3r's own ``fast_reciprocal_NNs`` behind the
same signature, for comparison). ``amp=True`` runs the network under bfloat16 autocast. :attr:`last_timings`
holds the seconds of the last pair's stages (``network``, ``nn``). With ``pairwise=True`` both edges of the pair
run and :attr:`Matches.pairwise` carries the pointmaps GS-CPR_rel takes (:class:`gscpr.pointmaps.PairPointmaps`);
``correspondences=False`` then skips the nearest neighbours (the original's ``_rel`` scripts match nothing).

On a GPU the network replays from a CUDA graph per input shape (``cuda_graphs=True``, :mod:`gscpr.cudagraph`):
one pair is some 5,000 kernel launches, which cost the host more than twice the GPU's work. Two of DUSt3R's
modules read GPU values on the host, which a capture forbids; :func:`make_capture_safe` gives them paths that
compute the same values without it (tested to agree bit for bit).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..cudagraph import GraphedFunction
from ..pointmaps import PairPointmaps
from .base import Matcher, MatchError, Matches, rescale_keypoints
from .pil_resize import pil_resize

__all__ = [
    "DEFAULT_CHECKPOINT",
    "NN_METHODS",
    "RELEASED_ARCHITECTURE",
    "TINY_ARCHITECTURE",
    "Mast3rMatcher",
    "border_mask",
    "check_dependencies",
    "hf_cache_dir",
    "make_capture_safe",
    "map_keypoints",
    "mast3r_geometry",
    "mast3r_input",
    "reciprocal_nn",
    "reciprocal_nn_mast3r",
    "resolve_checkpoint",
    "write_random_checkpoint",
]

#: The original's model (gs_cpr_7s.py), by its Hugging Face name.
DEFAULT_CHECKPOINT = "naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric"
#: The released ViT-L model's constructor string, as its checkpoints carry it (``args.model``; the training command
#: of mast3r's README): encoder 1024 wide, 24 blocks, 16 heads; decoder 768, 12, 12.
RELEASED_ARCHITECTURE = (
    "AsymmetricMASt3R(pos_embed='RoPE100', patch_embed_cls='ManyAR_PatchEmbed', img_size=(512, 512), "
    "head_type='catmlp+dpt', output_mode='pts3d+desc24', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), "
    "enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12, "
    "two_confs=True, desc_conf_mode=('exp', 0, inf))"
)
#: A small configuration of the same architecture (``catmlp+dpt`` needs ``dec_depth > 9``) for tests and CPU runs:
#: a 512-px pair in about a second on one CPU core.
TINY_ARCHITECTURE = RELEASED_ARCHITECTURE.replace(
    "enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12",
    "enc_embed_dim=64, enc_depth=2, enc_num_heads=2, dec_embed_dim=64, dec_depth=10, dec_num_heads=2",
)
#: What mast3r's inference imports from PyPI (its ``requirements.txt``, less what gscpr already needs).
PYPI_DEPENDENCIES = ("einops", "huggingface_hub", "packaging", "scipy")
INSTALL_HINT = "pip install 'gscpr[mast3r]'"
CLONE_HINT = (
    "git clone --recursive https://github.com/naver/mast3r and put the clone on PYTHONPATH (PYTHONPATH=/path/to/mast3r)"
)


def _importable(name: str) -> bool:
    """``name`` can be imported (without importing it; a ``None`` in ``sys.modules`` blocks it, as import does)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_dependencies() -> None:
    """Raise :class:`MatchError` naming what the mast3r matcher cannot import, and how to get it: mast3r's PyPI
    dependencies (``einops``, ``huggingface_hub``, ``packaging``, ``scipy``), then the mast3r clone itself."""
    missing = [m for m in PYPI_DEPENDENCIES if not _importable(m)]
    if missing:
        raise MatchError(f"the mast3r matcher needs the Python package(s) {', '.join(missing)}: {INSTALL_HINT}")
    if not _importable("mast3r"):
        raise MatchError(f"the mast3r matcher needs the mast3r package (not importable): {CLONE_HINT}")
    try:
        import mast3r.fast_nn  # noqa: F401  (imports dust3r, croco and scipy as matching needs them)
        import mast3r.model  # noqa: F401
    except ImportError as e:  # a clone without its submodules, or a dependency of theirs
        name = getattr(e, "name", None) or ""
        if name and not name.startswith(("mast3r", "dust3r", "croco", "models")):
            raise MatchError(f"the mast3r matcher needs the Python package {name}: pip install {name}") from None
        raise MatchError(f"the mast3r package cannot be imported ({e}): {CLONE_HINT}") from None


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
    ``~/.cache/huggingface/hub``), as ``huggingface-cli download`` fills it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """A local ``.pth`` checkpoint (released format: ``{'model': state_dict, 'args': namespace}``), a model folder
    (``config.json`` + weights), or a Hugging Face model name resolved in the local cache (nothing is downloaded).

    Returns the file or folder. Raises :class:`MatchError` with one line naming what is missing and how to get it.
    """
    text = str(checkpoint)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if not (path / "config.json").is_file() or not any((path / w).is_file() for w in _WEIGHTS):
            raise MatchError(f"MASt3R model folder {path} lacks config.json and {' or '.join(_WEIGHTS)}")
        return path
    if not _REPO_ID.fullmatch(text) or text.endswith((".pth", ".pt", ".bin", ".safetensors")):
        raise MatchError(f"MASt3R checkpoint {text}: no such file (give a .pth file or a model name such as "
                         f"{DEFAULT_CHECKPOINT})")  # fmt: skip
    from huggingface_hub import snapshot_download

    cache = hf_cache_dir()
    how = (f"download it on a machine with internet (huggingface-cli download {text}) and copy its cache here "
           "(HF_HUB_CACHE or HF_HOME say where), or give the path of a local .pth checkpoint "
           "(--matcher_checkpoint in the paper scripts, --matcher-checkpoint in gscpr refine)")  # fmt: skip
    try:
        snapshot = Path(snapshot_download(text, cache_dir=str(cache), local_files_only=True))
    except Exception:  # LocalEntryNotFoundError and the hub's other "not here" errors
        raise MatchError(f"MASt3R model {text} is not in the local Hugging Face cache {cache}: {how}") from None
    if not (snapshot / "config.json").is_file() or not any((snapshot / w).is_file() for w in _WEIGHTS):
        raise MatchError(f"MASt3R model {text} is only partly in the cache ({snapshot}): {how}")
    return snapshot


def load_mast3r_model(checkpoint: str | Path):
    """The ``AsymmetricMASt3R`` network of :func:`resolve_checkpoint`'s answer, on the CPU, in eval mode.

    A ``.pth`` is built as mast3r's ``load_model`` builds it (``args.model`` evaluated, with ``PatchEmbedDust3R``
    and ``landscape_only=False``); a folder as ``PyTorchModelHubMixin.from_pretrained`` builds it
    (``AsymmetricMASt3R(**config.json)``, then safetensors' ``load_model(strict=False)``, which restores tensors
    ``save_pretrained`` left out as aliases of others). Unlike both, weights that lack a tensor of the network (an
    alias of a loaded one excepted) or carry a foreign one are refused: :class:`MatchError`, one line."""
    check_dependencies()
    path = resolve_checkpoint(checkpoint)
    import mast3r.model

    try:
        if path.is_file():
            return _load_pth(path, mast3r.model).eval()
        config = json.loads((path / "config.json").read_text())
        net = mast3r.model.AsymmetricMASt3R(**config)
        if (path / "model.safetensors").is_file():
            weights = path / "model.safetensors"
            if not _importable("safetensors"):
                raise MatchError(f"{weights} needs the safetensors package: {INSTALL_HINT}")
            from safetensors.torch import load_model

            missing, unexpected = load_model(net, str(weights), strict=False)
        else:
            weights = path / "pytorch_model.bin"
            state = torch.load(weights, map_location="cpu", weights_only=True)
            missing, unexpected = net.load_state_dict(state, strict=False)
        _refuse_incomplete(net, missing, unexpected, weights)
        return net.eval()
    except MatchError:
        raise
    except Exception as e:  # a damaged or foreign file: one line, not mast3r's traceback
        raise MatchError(f"cannot load the MASt3R checkpoint {path}: {type(e).__name__}: {e}") from None


_RELEASED_FORMAT = (
    "a released checkpoint is {'model': state_dict, 'args': namespace with .model = 'AsymmetricMASt3R(...)'}"
)


def _load_pth(path: Path, namespace) -> torch.nn.Module:
    """mast3r's ``load_model`` (mast3r/model.py), with a line naming what is wrong with ``path`` instead of its
    ``KeyError`` / bare ``AssertionError``, and the weights checked (:func:`_refuse_incomplete`)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "args" not in ckpt:
        what = (
            "not a dict" if not isinstance(ckpt, dict) else f"no {'model' if 'model' not in ckpt else 'args'!r} entry"
        )
        raise MatchError(f"{path}: not a MASt3R checkpoint ({what}: {_RELEASED_FORMAT})")
    args = getattr(ckpt["args"], "model", None)
    if not isinstance(args, str) or not args.strip().endswith(")"):
        raise MatchError(f"{path}: not a MASt3R checkpoint (args.model is {args!r}, not a constructor string: "
                         f"{_RELEASED_FORMAT})")  # fmt: skip
    args = args.replace("ManyAR_PatchEmbed", "PatchEmbedDust3R")  # as mast3r's load_model: any aspect ratio
    if "landscape_only" not in args:
        args = args.rstrip()[:-1] + ", landscape_only=False)"
    else:
        args = args.replace(" ", "").replace("landscape_only=True", "landscape_only=False")
    try:
        net = eval(args, vars(namespace))  # noqa: S307  (what mast3r's load_model does with the same string)
    except Exception as e:
        why = f"{type(e).__name__}: {e}" if str(e) else f"{type(e).__name__} in mast3r's constructor"
        raise MatchError(f"{path}: args.model does not build a MASt3R network ({why}): {ckpt['args'].model}") from None
    if not isinstance(net, torch.nn.Module):
        raise MatchError(f"{path}: args.model does not build a MASt3R network: {ckpt['args'].model}")
    missing, unexpected = net.load_state_dict(ckpt["model"], strict=False)
    _refuse_incomplete(net, missing, unexpected, path)
    return net


def _refuse_incomplete(net: torch.nn.Module, missing, unexpected, source: Path) -> None:
    """Raise :class:`MatchError` if weights loaded into ``net`` (``load_state_dict(strict=False)``'s ``missing`` /
    ``unexpected`` keys) lack a tensor of the network or carry a foreign one. A missing key whose tensor shares
    storage with a loaded one (a tied parameter, e.g. the DPT head's ``scratch.layer_rn.K`` aliases of
    ``layerK_rn``, which ``save_pretrained`` leaves out of ``model.safetensors``) is loaded, not missing."""
    own = net.state_dict()
    gone = set(missing)

    def where(t: Tensor) -> tuple:
        return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride())

    loaded = {where(t) for k, t in own.items() if k not in gone and t.numel()}
    lacking = [k for k in missing if k in own and not (own[k].numel() and where(own[k]) in loaded)]
    problems = []
    if lacking:
        problems.append(f"lacks {len(lacking)} of the network's {len(own)} tensors ({', '.join(lacking[:3])}"
                        f"{', ...' if len(lacking) > 3 else ''})")  # fmt: skip
    if unexpected:
        problems.append(f"has {len(unexpected)} tensors the network does not ({', '.join(list(unexpected)[:3])}"
                        f"{', ...' if len(unexpected) > 3 else ''})")  # fmt: skip
    if problems:
        raise MatchError(f"{source}: not this MASt3R network's weights: it {' and '.join(problems)}")


def mast3r_geometry(width: int, height: int, size: int = 512) -> tuple[int, int, tuple[int, int, int, int]]:
    """DUSt3R's ``load_images(size=512)`` bookkeeping: the resized size and the crop box ``(left, top, right,
    bottom)`` in the resized image (centred, multiples of 16; a square image becomes 4:3)."""
    s = size / max(width, height)
    rw, rh = round(width * s), round(height * s)
    cx, cy = rw // 2, rh // 2
    halfw, halfh = ((2 * cx) // 16) * 8, ((2 * cy) // 16) * 8
    if rw == rh:
        halfh = 3 * halfw // 4
    return rw, rh, (cx - halfw, cy - halfh, cx + halfw, cy + halfh)


def _nearest(queries: Tensor, db: Tensor, budget: int | None = None) -> Tensor:
    """Index in ``db [M, D]`` of each query's ``[N, D]`` largest dot product, in row blocks of at most
    ``budget`` similarities (default 2^28 on a GPU, 1 GB in fp32; 2^26 on the CPU): 3072 seeds against a 512x384
    map's 196,608 pixels would be a 2.4 GB matrix."""
    budget = budget or (1 << 28 if queries.device.type == "cuda" else 1 << 26)
    rows = max(1, budget // max(len(db), 1))
    if len(queries) == 0:
        return torch.zeros(0, dtype=torch.long, device=queries.device)
    return torch.cat([(queries[i : i + rows] @ db.T).argmax(dim=1) for i in range(0, len(queries), rows)])


def reciprocal_nn(
    desc0: Tensor, desc1: Tensor, subsample: int = 8, max_iter: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal nearest neighbours between dense descriptor maps ``[H0, W0, D]`` and ``[H1, W1, D]`` (dot
    product), on the maps' device.

    Seeds on a ``subsample``-px grid of image 0 go to their nearest neighbour in image 1 and back; a seed whose
    walk stops moving (forward or back) is converged and leaves the loop, the others walk on, ``max_iter`` times
    at most (those still moving are dropped). The same pairs as mast3r's ``fast_reciprocal_NNs`` (tested), each
    step only for the seeds still moving. Returns integer pixel coordinates ``(x, y)`` ``[N, 2]`` in each image,
    unique pairs sorted by image 0's pixel index.
    """
    H0, W0, D = desc0.shape
    H1, W1, _ = desc1.shape
    flat0, flat1 = desc0.reshape(-1, D), desc1.reshape(-1, D)
    dev = desc0.device
    ys, xs = torch.meshgrid(torch.arange(subsample // 2, H0, subsample, device=dev),
                            torch.arange(subsample // 2, W0, subsample, device=dev), indexing="ij")  # fmt: skip
    xy0 = (ys * W0 + xs).reshape(-1)
    xy1 = torch.full_like(xy0, -1)
    notyet = torch.ones(len(xy0), dtype=torch.bool, device=dev)
    for _ in range(max_iter):
        idx = notyet.nonzero()[:, 0]
        if idx.numel() == 0:
            break
        fwd = _nearest(flat0[xy0[idx]], flat1)
        moved = fwd != xy1[idx]
        xy1[idx] = fwd
        notyet[idx[~moved]] = False
        idx = idx[moved]
        back = _nearest(flat1[xy1[idx]], flat0)
        moved = back != xy0[idx]
        xy0[idx] = back
        notyet[idx[~moved]] = False
    done = ~notyet
    pairs = torch.unique(torch.stack([xy0[done], xy1[done]], dim=1), dim=0).cpu().numpy()
    p0 = np.stack([pairs[:, 0] % W0, pairs[:, 0] // W0], axis=1)
    p1 = np.stack([pairs[:, 1] % W1, pairs[:, 1] // W1], axis=1)
    return p0, p1


def reciprocal_nn_mast3r(
    desc0: Tensor, desc1: Tensor, subsample: int = 8, max_iter: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """mast3r's ``fast_reciprocal_NNs`` as the original calls it (dot product, blocks of 2^13), with
    :func:`reciprocal_nn`'s signature and output (``max_iter`` is mast3r's fixed 10)."""
    from mast3r.fast_nn import fast_reciprocal_NNs

    p0, p1 = fast_reciprocal_NNs(desc0, desc1, subsample_or_initxy1=subsample, device=desc0.device, dist="dot",
                                 block_size=2**13)  # fmt: skip
    W0, W1 = desc0.shape[1], desc1.shape[1]
    order = np.lexsort((p1[:, 1] * W1 + p1[:, 0], p0[:, 1] * W0 + p0[:, 0]))
    return np.asarray(p0)[order].astype(np.int64), np.asarray(p1)[order].astype(np.int64)


#: The nearest-neighbour implementations, by the name of the matcher's ``nn`` option.
NN_METHODS = {"gscpr": reciprocal_nn, "mast3r": reciprocal_nn_mast3r}


def make_capture_safe(model: torch.nn.Module, max_positions: int) -> torch.nn.Module:
    """Let ``model`` (a DUSt3R / MASt3R network) run without reading GPU values on the host, so that it can be
    captured in a CUDA graph (and runs without a host sync per attention layer). In place; returns ``model``.

    * The PyTorch RoPE2D (used where croco's CUDA kernel is not compiled) sizes its cos/sin table by
      ``int(positions.max()) + 1``, one host sync per call. Patched instances take a table of ``max_positions``
      rows: row ``t`` of the table does not depend on its length, so the rotated tokens are the same.
    * ``ManyAR_PatchEmbed`` routes landscape and portrait images by boolean masks of ``true_shape``; for a batch of
      landscape images only (its own assertion already requires them) patched instances take the plain
      ``PatchEmbedDust3R`` path, the same convolution and positions without the masks; other batches keep theirs.
    """
    import types

    from dust3r.patch_embed import ManyAR_PatchEmbed, PatchEmbedDust3R

    def rope_forward(self, tokens: Tensor, positions: Tensor) -> Tensor:
        cos, sin = self.get_cos_sin(tokens.size(3) // 2, max_positions, tokens.device, tokens.dtype)
        y, x = tokens.chunk(2, dim=-1)
        y = self.apply_rope1d(y, positions[:, :, 0], cos, sin)
        x = self.apply_rope1d(x, positions[:, :, 1], cos, sin)
        return torch.cat((y, x), dim=-1)

    def embed_forward(self, img: Tensor, true_shape: Tensor):
        if true_shape.device.type == "cpu" and bool((true_shape[:, 1] >= true_shape[:, 0]).all()):
            x, pos = PatchEmbedDust3R.forward(self, img)
            return x.float(), pos  # ManyAR writes into a float32 buffer (its output under autocast too)
        return ManyAR_PatchEmbed.forward(self, img, true_shape)

    for module in model.modules():
        if hasattr(module, "get_cos_sin") and hasattr(module, "apply_rope1d"):  # the PyTorch RoPE2D
            module.forward = types.MethodType(rope_forward, module)
        elif isinstance(module, ManyAR_PatchEmbed):
            module.forward = types.MethodType(embed_forward, module)
    return model


def border_mask(kpts: np.ndarray, width: int, height: int, border: int = 3) -> np.ndarray:
    """Keypoints at least ``border`` px inside the image (the original's 3-px filter)."""
    return (
        (kpts[:, 0] >= border) & (kpts[:, 0] < width - border) & (kpts[:, 1] >= border) & (kpts[:, 1] < height - border)
    )


def _pil_resize(image: Tensor, width: int, height: int) -> Tensor:
    """``[3, H, W]`` in [0, 1] resized as DUSt3R's ``load_images`` does it: PIL on the 8-bit image, LANCZOS when
    the long side shrinks, BICUBIC otherwise; ``[3, height, width]`` in [0, 1] on the input's device. On a GPU,
    :func:`~gscpr.match.pil_resize.pil_resize` computes Pillow's result there (bit for bit; no host round trip)."""
    u8 = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    shrink = max(image.shape[-2:]) > max(width, height)
    if image.device.type != "cpu":
        return pil_resize(u8, width, height, "lanczos" if shrink else "bicubic").float() / 255.0
    from PIL import Image

    pil = Image.fromarray(u8.permute(1, 2, 0).numpy()).resize(
        (width, height), Image.LANCZOS if shrink else Image.BICUBIC
    )
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1).float() / 255.0


def mast3r_input(image: Tensor, size: int = 512, resize: str = "torch") -> tuple[Tensor, tuple[int, ...]]:
    """The network's input for ``[3, H, W]`` in [0, 1]: ``[1, 3, h, w]`` in [-1, 1] (long side resized to
    ``size``, centre-cropped to multiples of 16, as :func:`mast3r_geometry`) and the geometry
    ``(rw, rh, left, top, W, H)``: resized size, crop offset, full size. ``resize``: ``"pil"`` (DUSt3R's
    ``load_images``, bit-identical) or ``"torch"`` (antialiased bicubic on the float image, on its device)."""
    H, W = image.shape[-2:]
    rw, rh, (left, top, right, bottom) = mast3r_geometry(W, H, size)
    if resize == "pil":
        img = _pil_resize(image, rw, rh)[None]
    else:
        img = torch.nn.functional.interpolate(image[None], size=(rh, rw), mode="bicubic", align_corners=False,
                                              antialias=True).clamp(0, 1)  # fmt: skip
    return img[..., top:bottom, left:right] * 2 - 1, (rw, rh, left, top, W, H)


def map_keypoints(p: np.ndarray, geometry: tuple[int, ...], crop: tuple[int, int], mode: str = "exact") -> np.ndarray:
    """Integer pixels ``p [N, 2]`` of the network's ``crop = (w, h)`` input back in the full image
    (``geometry`` of :func:`mast3r_input`).

    ``"original"``: the original scripts' truncating arithmetic, ``s = W / w``, ``x -> floor(x s)``,
    ``y -> floor((y + int((H / s - h) / 2)) s)`` (gs_cpr_12s.py; with no crop, as on 7-Scenes' 640x480 and
    Cambridge's 1920x1080, the shift is 0 and this is gs_cpr_7s.py's ``floor(y H / h)``). ``"exact"``: the crop
    undone, then each axis' resize, sub-pixel, in the pixel-index convention
    (:func:`~gscpr.match.base.rescale_keypoints`).
    """
    rw, rh, left, top, W, H = geometry
    if mode == "original":
        s = W / crop[0]
        shift = int((H / s - crop[1]) / 2)
        return np.floor(np.stack([p[:, 0] * s, (p[:, 1] + shift) * s], axis=1)).astype(np.float64)
    return rescale_keypoints(p + [left, top], rw / W, rh / H)


@contextlib.contextmanager
def _tf32(enabled: bool):
    """TF32 matrix products and convolutions inside the block (global torch flags, restored after)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if enabled:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Mast3rMatcher(Matcher):
    """MASt3R matching on ``device`` (see the module text for the options).

    Args:
        checkpoint: a Hugging Face model name in the local cache (default: the original's), a model folder or a
            ``.pth`` file; see :func:`resolve_checkpoint`.
        size: the long side of the network's input (the original: 512).
        max_size: the registry's common option, here another name for ``size``: a multiple of 16, 64 to 512.
        subsample: the seed grid of the nearest neighbours, pixels.
        resize: ``"torch"`` or ``"pil"`` (the original's). keypoints: ``"exact"`` or ``"original"``.
        nn: ``"gscpr"`` (:func:`reciprocal_nn`) or ``"mast3r"`` (``fast_reciprocal_NNs``).
        amp: run the network under bfloat16 autocast.
        tf32: let the network's float32 matrix products and convolutions use TF32 tensor cores (CUDA; the
            weights and activations stay float32, products keep a 10-bit mantissa).
        pairwise: run both edges and attach :class:`~gscpr.pointmaps.PairPointmaps` to the matches.
        correspondences: ``False`` skips the nearest neighbours (no matches, only the pointmaps: GS-CPR_rel as
            published uses none; needs ``pairwise``).
        cuda_graphs: on a GPU, replay the network from a CUDA graph captured per input shape (the same kernels,
            so the same outputs; the first pair of a shape pays the capture, about a second).

    Raises :class:`MatchError` (one line) for a missing dependency, a checkpoint that is not here, or a bad option.
    """

    name = "mast3r"

    def __init__(
        self,
        device=None,
        checkpoint: str | Path | None = DEFAULT_CHECKPOINT,
        size: int = 512,
        subsample: int = 8,
        max_size: int | None = None,
        resize: str = "torch",
        keypoints: str = "exact",
        nn: str = "gscpr",
        amp: bool = False,
        tf32: bool = False,
        pairwise: bool = False,
        correspondences: bool = True,
        cuda_graphs: bool = True,
    ):
        super().__init__(device, None)  # the network's input size is ``size``: Matcher.match must not resize
        size = max_size or size
        if size % 16 or not 64 <= size <= 512:
            raise MatchError(f"mast3r: the input size (max_size) must be a multiple of 16 from 64 to 512, got {size}")
        for option, value, allowed in (("resize", resize, ("torch", "pil")), ("keypoints", keypoints,
                                       ("exact", "original")), ("nn", nn, tuple(NN_METHODS))):  # fmt: skip
            if value not in allowed:
                raise MatchError(f"mast3r: {option} must be one of {', '.join(allowed)}, got {value!r}")
        if not correspondences and not pairwise:
            raise MatchError("mast3r: correspondences=False leaves nothing to return without pairwise=True")
        self.model = load_mast3r_model(checkpoint or DEFAULT_CHECKPOINT).to(self.device)
        self.size, self.subsample, self.resize, self.keypoints = size, subsample, resize, keypoints
        self.nn, self.amp, self.pairwise, self.correspondences = nn, bool(amp), bool(pairwise), bool(correspondences)
        self.tf32 = bool(tf32)
        self.last_timings: dict[str, float] = {}
        patch = self.model.patch_embed.patch_size[0]
        make_capture_safe(self.model, max_positions=-(-size // patch) + 1)
        self._out_keys: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self.cuda_graphs = bool(cuda_graphs)
        self._graphed = GraphedFunction(self._forward, enabled=self.cuda_graphs)

    def _prepare(self, image: Tensor, idx: int) -> tuple[dict, tuple[int, int, int, int, int, int]]:
        """DUSt3R's view of ``[3, H, W]`` and its geometry (:func:`mast3r_input`). ``true_shape`` stays on the
        CPU, as dust3r's ``inference`` leaves it: the network reads it on the host."""
        img, g = mast3r_input(image, self.size, self.resize)
        h, w = img.shape[-2:]
        return {"img": img, "true_shape": torch.tensor([[h, w]]), "idx": idx, "instance": [str(idx)]}, g

    def _forward(self, img1: Tensor, img2: Tensor) -> tuple[Tensor, ...]:
        """The network on the views of ``img1, img2 [B, 3, h, w]`` (batch index ``i`` of each a pair; a batch of
        two ``(a, b), (b, a)`` is DUSt3R's symmetric pair, each image encoded once): the values of ``pred1`` then
        ``pred2``, in the order of :attr:`_out_keys`."""
        views = []
        for img, names in ((img1, ["0", "1"]), (img2, ["1", "0"])):
            shape = torch.tensor([list(img.shape[-2:])] * len(img))
            views.append({"img": img, "true_shape": shape, "instance": names[: len(img)]})
        # autocast's cast cache must be off while a graph is captured (it would hold tensors of the capture)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp, cache_enabled=False), \
                _tf32(self.tf32):  # fmt: skip
            pred1, pred2 = self.model(*views)
        self._out_keys = (tuple(pred1), tuple(pred2))
        return (*pred1.values(), *pred2.values())

    def _network(self, v0: dict, v1: dict) -> tuple[dict, dict]:
        """``pred1, pred2`` of the edge ``0_1`` (batch of one) or, with :attr:`pairwise`, of ``0_1`` and ``1_0``
        (batch index 0 and 1), left on the device."""
        if not self.pairwise:
            out = self._graphed(v0["img"], v1["img"])
        elif v0["img"].shape == v1["img"].shape:  # one batch; DUSt3R encodes each image once for a symmetric one
            out = self._graphed(torch.cat([v0["img"], v1["img"]]), torch.cat([v1["img"], v0["img"]]))
        else:
            (p01, q01), (p10, q10) = (self._unflatten(self._graphed(a, b)) for a, b in
                                      ((v0["img"], v1["img"]), (v1["img"], v0["img"])))  # fmt: skip
            return ({k: [p01[k][0], p10[k][0]] for k in p01}, {k: [q01[k][0], q10[k][0]] for k in q01})
        return self._unflatten(out)

    def _unflatten(self, out: tuple[Tensor, ...]) -> tuple[dict, dict]:
        k1, k2 = self._out_keys
        return dict(zip(k1, out[: len(k1)], strict=True)), dict(zip(k2, out[len(k1) :], strict=True))

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        t0 = time.perf_counter()
        v0, g0 = self._prepare(image0, 0)
        v1, g1 = self._prepare(image1, 1)
        pred1, pred2 = self._network(v0, v1)
        d0, d1 = pred1["desc"][0].float(), pred2["desc"][0].float()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t1 = time.perf_counter()
        if not self.correspondences:
            self.last_timings = {"network": t1 - t0, "nn": 0.0}
            return Matches.empty(self._pointmaps(pred1, pred2, (g0, g1)))
        p0, p1 = NN_METHODS[self.nn](d0, d1, self.subsample)
        (h0, w0), (h1, w1) = d0.shape[:2], d1.shape[:2]
        keep = border_mask(p0, w0, h0) & border_mask(p1, w1, h1)
        p0, p1 = p0[keep].astype(np.float64), p1[keep].astype(np.float64)
        k0, k1 = map_keypoints(p0, g0, (w0, h0), self.keypoints), map_keypoints(p1, g1, (w1, h1), self.keypoints)
        self.last_timings = {"network": t1 - t0, "nn": time.perf_counter() - t1}
        m = Matches(k0, k1, np.ones(len(k0)))
        if self.pairwise:
            m.pairwise = self._pointmaps(pred1, pred2, (g0, g1))
        return m

    @staticmethod
    def _pointmaps(pred1: dict, pred2: dict, geometry) -> PairPointmaps:
        def np32(t: Tensor) -> np.ndarray:
            return t.float().cpu().numpy()

        # batch index 0 is the edge 0_1, index 1 the edge 1_0: image i's own map is pred1[i], its map in the other
        # image's frame is pred2 of the other edge.
        return PairPointmaps(
            pts_self=(np32(pred1["pts3d"][0]), np32(pred1["pts3d"][1])),
            pts_other=(np32(pred2["pts3d_in_other_view"][1]), np32(pred2["pts3d_in_other_view"][0])),
            conf_self=(np32(pred1["conf"][0]), np32(pred1["conf"][1])),
            conf_other=(np32(pred2["conf"][1]), np32(pred2["conf"][0])),
            resized=tuple((g[0], g[1]) for g in geometry),
            crop=tuple((g[2], g[3]) for g in geometry),
        )


def write_random_checkpoint(path: str | Path, architecture: str = RELEASED_ARCHITECTURE, seed: int = 0) -> Path:
    """Write a random-weight checkpoint of ``architecture`` (an ``AsymmetricMASt3R(...)`` constructor string) in
    the released format, ``torch.save({'model': state_dict, 'args': namespace with .model = architecture})``,
    for timing and tests where the released weights are not at hand (its matches mean nothing). Needs the
    mast3r code (:func:`check_dependencies`); the ViT-L file is about 2.7 GB. Returns ``path``."""
    import argparse

    check_dependencies()
    import mast3r.model

    torch.manual_seed(seed)
    net = eval(architecture, vars(mast3r.model))  # noqa: S307  (mast3r's load_model evaluates the same string)
    path = Path(path)
    torch.save({"model": net.state_dict(), "args": argparse.Namespace(model=architecture)}, path)
    return path
