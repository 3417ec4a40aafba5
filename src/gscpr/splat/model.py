"""Loading any supported scene model from a path: the one place that decides which reader a file or folder
takes, used by every command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..outputs import not_there
from .formats import read_splat, read_spz
from .gaussians import Gaussians, PlyFormatError, gaussians_from_arrays
from .ply import read_scene_ply, warn_default
from .scaffold import ScaffoldModel, _latest_iteration, load_scaffold, read_cfg_args

__all__ = ["SCENE_FILE_FORMATS", "load_gaussians", "load_scene_model", "scene_background"]

#: What :func:`load_gaussians` reads, for messages and the README.
SCENE_FILE_FORMATS = "a 3DGS PLY (standard, Mip-Splatting or SuperSplat-compressed), .splat or .spz"


def load_gaussians(
    path: str | Path, device: str | torch.device = "cpu", warn: Callable[[str], None] = warn_default
) -> Gaussians:
    """A scene file of any format gscpr reads, chosen by its content (a PLY starts with ``ply``, an ``.spz`` with
    gzip's magic or ``NGSP``) and, for the header-less ``.splat``, by its extension: see
    :func:`gscpr.splat.ply.read_scene_ply` and :mod:`gscpr.splat.formats`.

    What the file holds but gscpr does not render is named once through ``warn``. Raises
    :class:`PlyFormatError` (one line naming the file) for a missing, truncated, empty or unknown file."""
    path = Path(path)
    if not path.is_file():
        raise PlyFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic.startswith(b"ply") or suffix == ".ply":
            arrays = read_scene_ply(path, warn)
        elif magic == b"NGSP" or magic[:2] == b"\x1f\x8b" or suffix == ".spz":
            arrays = read_spz(path, warn)
        elif suffix == ".splat":
            arrays = read_splat(path)
        else:
            raise PlyFormatError(f"{path}: not a scene model file gscpr reads ({SCENE_FILE_FORMATS})")
    except OSError as e:  # unreadable (permissions, a folder, an I/O error): one line, not a traceback
        raise PlyFormatError(f"{path}: cannot read the file ({e.strerror or e})") from None
    return gaussians_from_arrays(path, arrays, device)


def load_scene_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    iteration: int | None = None,
    warn: Callable[[str], None] = warn_default,
) -> Gaussians | ScaffoldModel:
    """A scene file (:func:`load_gaussians`), or a model folder with ``point_cloud/iteration_<N>/point_cloud.ply``
    holding either a vanilla 3DGS (Inria, gsplat, nerfstudio exports) or a Scaffold-GS anchor set (with its MLP
    files)."""
    path = Path(path)
    if path.is_file():
        return load_gaussians(path, device, warn)
    if not path.is_dir():
        raise PlyFormatError(f"{path}: {not_there(path, 'model file or folder')}")
    it = iteration if iteration is not None else _latest_iteration(path)
    ply = path / "point_cloud" / f"iteration_{it}" / "point_cloud.ply"
    if not ply.is_file():
        raise PlyFormatError(f"{ply}: no such file")
    with open(ply, "rb") as f:
        header = f.read(4096).split(b"end_header")[0]
    if b"f_anchor_feat_0" in header:
        return load_scaffold(path, it, device)
    return load_gaussians(ply, device, warn)


def scene_background(model, path: str | Path | None = None) -> tuple[float, float, float] | None:
    """The background a scene model was trained on, where it says: the loaded ``model``'s own ``background``
    (Scaffold-GS: its ``cfg_args``), else the ``white_background`` of the ``cfg_args`` in the model folder
    ``path`` (the Inria layout: 3DGS's ``train.py`` writes it too); None where neither says (a bare scene file).
    Raises :class:`~gscpr.splat.scaffold.ScaffoldFormatError` for a ``cfg_args`` that cannot be parsed."""
    if getattr(model, "background", None) is not None:
        return tuple(float(v) for v in model.background)
    if path is not None and (Path(path) / "cfg_args").is_file():
        return read_cfg_args(Path(path) / "cfg_args").background
    return None
