"""A miniature GS-CPR working directory in the original's layout, generated: a Scaffold-GS model of a random
scene, coarse pose files and (for Cambridge) ACE-layout query folders. Small image sizes keep CPU renders fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gscpr.geometry import invert_pose, perturb_pose
from gscpr.paper import model_dir
from gscpr.poses import write_matrix_pose, write_poses
from gscpr.splat.scaffold import random_scaffold, save_scaffold
from gscpr.synthetic import look_at_origin


def make_paper_root(root: Path, dataset: str, scene: str, estimator: str, names: list[str], seed: int = 0) -> dict:
    """Write the model and the coarse pose file; returns ``{name: coarse w2c}``."""
    rng = np.random.default_rng(seed)
    save_scaffold(random_scaffold(300, seed=seed, extent=1.5), model_dir(root, dataset, scene), 30000)
    gt = {n: look_at_origin(rng) for n in names}
    coarse = dict(
        zip(names, perturb_pose(np.stack(list(gt.values())), 1.0, 0.02, frame="world", rng=seed), strict=True)
    )
    from gscpr.paper import get_dataset

    write_poses(get_dataset(dataset).coarse_pose_file(root / "coarse_poses", estimator, scene), coarse)
    return {"gt": gt, "coarse": coarse}


def make_cambridge_queries(datasets: Path, scene: str, names_flat: list[str], gt: dict, size=(96, 54), focal=80.0):
    """ACE-layout test split (480-high images scaled down here) plus the full-resolution originals."""
    import cv2

    root = datasets / f"Cambridge_{scene}"
    small_w = int(np.ceil(size[0] * 480 / size[1] / 4))  # a proportionally smaller "ACE" image
    small_h = 120
    for flat in names_flat:
        seq, frame = flat.split("_", 1)
        full = np.full((size[1], size[0], 3), 90, np.uint8)
        (root / seq).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / seq / frame), full)
        for sub in ("rgb", "poses", "calibration"):
            (root / "test" / sub).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "test" / "rgb" / flat), cv2.resize(full, (small_w, small_h)))
        stem = flat.rsplit(".", 1)[0]
        (root / "test" / "calibration" / f"{stem}.txt").write_text(repr(focal * small_w / size[0]))
        write_matrix_pose(root / "test" / "poses" / f"{stem}.txt", invert_pose(gt[flat]))
    return root


def make_7scenes_with_renders(root: Path, scene: str, estimator: str, names: list[str], seed: int = 0) -> dict:
    """A 7-Scenes test split in the original's layout (``datasets/pgt_7scenes_<scene>/test/{rgb,poses,
    calibration}``, 640x480 textured queries), the estimator's coarse pose file and the renders at the coarse
    poses where the original's render scripts leave them (``<name>`` + ``.npy`` depth, metres): everything
    ``gs_cpr_7s[_rel].py`` reads, no scene model. Returns ``{"gt": {name: w2c}, "coarse": {name: w2c}}``."""
    import cv2

    from gscpr.paper import get_dataset, render_dir

    rng = np.random.default_rng(seed)
    test = root / "datasets" / f"pgt_7scenes_{scene}" / "test"
    renders = render_dir(root, "7scenes", scene, estimator)
    for sub in ("rgb", "poses", "calibration"):
        (test / sub).mkdir(parents=True, exist_ok=True)
    renders.mkdir(parents=True, exist_ok=True)
    gt = {n: look_at_origin(rng) for n in names}
    coarse = dict(zip(names, perturb_pose(np.stack(list(gt.values())), 2.0, 0.04, frame="world", rng=seed),
                      strict=True))  # fmt: skip
    for name in names:
        small = rng.integers(0, 256, (61, 81, 3), dtype=np.uint8)
        query = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(test / "rgb" / name), query)
        base = name.split(".")[0]
        write_matrix_pose(test / "poses" / f"{base}.pose.txt", invert_pose(gt[name]))
        (test / "calibration" / f"{base}.calibration.txt").write_text("526.22")
        cv2.imwrite(str(renders / name), np.roll(query, (3, 5), axis=(0, 1)))  # the render: the view, shifted
        depth = 2.0 + np.linspace(0.0, 0.5, 640, dtype=np.float32)[None].repeat(480, axis=0)
        np.save(renders / name.replace("png", "npy"), depth)  # the original's depth name
    write_poses(get_dataset("7scenes").coarse_pose_file(root / "coarse_poses", estimator, scene), coarse)
    return {"gt": gt, "coarse": coarse}


def write_original_renders(root: Path, dataset: str, scene: str, estimator: str, names: list[str], size=(96, 54),
                           value: int = 100, depth: float = 3.0) -> list[Path]:  # fmt: skip
    """Renders as the original's render script writes them: ``render_dir/<name>`` (8-bit RGB, one grey ``value``)
    and ``<name without extension>.npy`` (float32 ``[H, W]`` depth, ``depth`` everywhere), under ``names`` as given
    (the original's: ``seqN/frameM.png`` on Cambridge). Returns the RGB paths."""
    import cv2

    from gscpr.paper import render_dir

    out = render_dir(root, dataset, scene, estimator)
    paths = []
    for name in names:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))
        np.save(path.with_suffix(".npy"), np.full((size[1], size[0]), depth, np.float32))
        paths.append(path)
    return paths


def act_module(bias: float = 0.0):
    """An :class:`~gscpr.splat.act.ACTModule` whose transform is ``A = 0, b = bias``: every rendered pixel becomes
    ``sigmoid(bias)``, whatever the query (its first layer reads only the constant padding input)."""
    import torch

    from gscpr.splat.act import N_BINS, ACTModule

    act = ACTModule()
    with torch.no_grad():
        for layer in act.layers:
            layer.weight.zero_()
        act.layers[0].weight[:, N_BINS] = 1.0  # hidden = 1 from the constant-1 padding column
        act.layers[1].weight.copy_(torch.eye(32))
        act.layers[2].weight.copy_(torch.eye(32))
        act.layers[3].weight[9:] = bias / 32  # the bias outputs
    return act


def write_released_act(path: Path, bias: float = 0.0) -> Path:
    """:func:`act_module` saved as a released checkpoint: tiny-cuda-nn flat half-precision parameters in
    ``network_fn_state_dict["exposure_embedding.params"]`` (output layer padded to 16 rows)."""
    import torch

    act = act_module(bias)
    last = torch.zeros(16, 32)
    last[:12] = act.layers[3].weight.detach()
    params = torch.cat([*(layer.weight.detach().reshape(-1) for layer in act.layers[:3]), last.reshape(-1)])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"network_fn_state_dict": {"exposure_embedding.params": params.half()}}, path)
    return path


def write_project_act(path: Path, bias: float = 0.0) -> Path:
    """:func:`act_module` saved as gscpr writes it (``act.pt``: the module's state dict)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(act_module(bias).state_dict(), path)
    return path
