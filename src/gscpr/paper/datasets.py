"""The GS-CPR paper's datasets, in one place: scenes, estimators, render intrinsics and the original's input
folders (coarse pose files, ACE-layout scene folders, trained models, renders at the coarse poses).

Every value here is what the original code uses (``gs_cpr_*.py``, ``render_pred_*.py``), so that the
paper's commands reproduce its tables. Paths are relative to the working directory, as in the original.
The output files (refined poses, logs) are named in ``gscpr.paper.naming``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..splat.act import ACT_FILE  # gscpr train --act writes <model folder>/act.pt

__all__ = [
    "ACT_FILE",
    "DATASETS",
    "ActWeights",
    "PaperDataset",
    "find_act_weights",
    "get_dataset",
    "model_dir",
    "released_act_path",
    "render_dir",
]

# The nested spelling of a flat query name, where the dataset has one: seq-03-frame-… -> seq-03/frame-… (7-Scenes),
# seq2_frame… -> seq2/frame… (Cambridge).
_NESTED = {"7scenes": "-frame", "cambridge": "_frame"}


@dataclass(frozen=True)
class PaperDataset:
    """One of the paper's datasets.

    Attributes:
        name: ``7scenes``, ``12scenes`` or ``cambridge`` (the CLI's and the output folder's name).
        scenes: scene names, in the paper's table order.
        estimators: coarse pose estimators the paper evaluates on this dataset.
        coarse_subdir: folder of the coarse pose files under ``coarse_poses/<estimator>/``.
        coarse_prefix: the coarse pose file's name is ``poses_<coarse_prefix><scene>_.txt``.
        render_size: ``(width, height)`` of renders and query images.
        focal: per-scene render focal length in pixels (``None``: per image, from the calibration files).
        name_scheme: how image names are matched (``gscpr.poses`` schemes).
        ransac_px: the original's PnP-RANSAC reprojection threshold in pixels at ``render_size``.
        uses_act: whether the original colours its renders with ACT (Cambridge: :func:`find_act_weights`).
    """

    name: str
    scenes: tuple[str, ...]
    estimators: tuple[str, ...]
    coarse_subdir: str
    coarse_prefix: str
    render_size: tuple[int, int]
    name_scheme: str
    ransac_px: float
    focal: dict[str, float] | None = field(default=None)
    uses_act: bool = False

    def coarse_pose_file(self, coarse_dir: str | Path, estimator: str, scene: str) -> Path:
        """``coarse_poses/<estimator>/<subdir>/poses_<prefix><scene>_.txt``."""
        return Path(coarse_dir) / estimator / self.coarse_subdir / f"poses_{self.coarse_prefix}{scene}_.txt"

    def scene_dir(self, datasets_dir: str | Path, scene: str) -> Path:
        """The ACE-layout folder of a scene: ``datasets/pgt_7scenes_<scene>``, ``datasets/Cambridge_<Scene>``."""
        prefix = {"7scenes": "pgt_7scenes_", "12scenes": "pgt_12scenes_", "cambridge": "Cambridge_"}[self.name]
        return Path(datasets_dir) / f"{prefix}{scene}"

    def render_names(self, coarse_name: str) -> list[str]:
        """The file names, relative to :func:`render_dir`, that the render of the query ``coarse_name`` (its name
        in the coarse pose file) may have; the first is the one the original's render script writes.

        ``render_pred_7s.py`` / ``render_pred_12s.py`` write each render under its coarse pose file's name
        (``seq-03-frame-000000.color.png`` for ACE / GLACE / marepo, ``seq-03/frame-000000.color.png`` for DFNet;
        ``frame-000000.color.jpg``); ``render_pred_cam_act.py`` writes ``seqN/frameM.png`` for every estimator
        (ACE / GLACE name them ``seqN_frameM.png``). ``gs_cpr_7s.py`` reads either 7-Scenes spelling. The others
        follow: the coarse name itself, its flat and its nested spelling. Depth: :func:`gscpr.render_poses.
        depth_path` of the same name (``.npy``).
        """
        from ..poses import UnknownNameError, canonical_name

        try:
            flat = canonical_name(coarse_name, self.name_scheme)
        except UnknownNameError:
            return [coarse_name]
        nested = flat.replace(_NESTED[self.name], "/" + _NESTED[self.name][1:], 1) if self.name in _NESTED else flat
        first = nested if self.name == "cambridge" else coarse_name
        return list(dict.fromkeys([first, coarse_name, flat, nested]))

    def render_files(self, renders: str | Path, coarse_name: str) -> tuple[Path, Path] | None:
        """``(RGB, depth .npy)`` of the first of :meth:`render_names` with both files in ``renders``, or None:
        the one place that decides which render on disk a query of the paper's scripts takes."""
        from ..render_poses import depth_path

        renders = Path(renders)
        for name in self.render_names(coarse_name):
            files = (renders / name, depth_path(renders, name))
            if all(f.is_file() for f in files):
                return files
        return None

    def check_scene(self, scene: str) -> str:
        """``scene`` itself; raises ``ValueError`` naming the valid scenes when it is not one of them."""
        if scene not in self.scenes:
            raise ValueError(f"unknown {self.name} scene {scene!r}; expected one of {', '.join(self.scenes)}")
        return scene

    def check_estimator(self, estimator: str) -> str:
        """``estimator`` itself; raises ``ValueError`` when the paper has no coarse poses of it for this dataset."""
        if estimator not in self.estimators:
            raise ValueError(
                f"the paper has no {estimator!r} coarse poses for {self.name}; expected one of "
                f"{', '.join(self.estimators)}"
            )
        return estimator


DATASETS: dict[str, PaperDataset] = {
    "7scenes": PaperDataset(
        name="7scenes",
        scenes=("chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs"),
        estimators=("ace", "glace", "marepo", "dfnet"),
        coarse_subdir="7Scenes_pgt",
        coarse_prefix="pgt_7scenes_",
        render_size=(640, 480),
        name_scheme="7scenes",
        ransac_px=1.0,
        focal={
            "chess": 526.22,
            "fire": 526.903,
            "heads": 527.745,
            "office": 525.143,
            "pumpkin": 525.647,
            "redkitchen": 525.505,
            "stairs": 525.505,
        },
    ),
    "12scenes": PaperDataset(
        name="12scenes",
        scenes=(
            "apt1_kitchen",
            "apt1_living",
            "apt2_bed",
            "apt2_kitchen",
            "apt2_living",
            "apt2_luke",
            "office1_gates362",
            "office1_gates381",
            "office1_lounge",
            "office1_manolis",
            "office2_5a",
            "office2_5b",
        ),  # fmt: skip
        estimators=("ace", "glace", "marepo"),
        coarse_subdir="12Scenes_pgt",
        coarse_prefix="pgt_12scenes_",
        render_size=(1296, 968),
        name_scheme="12scenes",
        ransac_px=1.0,
        focal={
            "apt1_kitchen": 1167.8,
            "apt1_living": 1172.29,
            "apt2_bed": 1166.72,
            "apt2_kitchen": 1169.57,
            "apt2_living": 1166.41,
            "apt2_luke": 1160.96,
            "office1_gates362": 1170.08,
            "office1_gates381": 1168.02,
            "office1_lounge": 1165.19,
            "office1_manolis": 1168.41,
            "office2_5a": 1139.32,
            "office2_5b": 1161.54,
        },
    ),
    "cambridge": PaperDataset(
        name="cambridge",
        scenes=("KingsCollege", "ShopFacade", "OldHospital", "StMarysChurch"),
        estimators=("ace", "glace", "dfnet"),
        coarse_subdir="Cambridge",
        coarse_prefix="Cambridge_",
        render_size=(1920, 1080),
        name_scheme="cambridge",
        ransac_px=2.5,
        focal=None,  # per image: calibration file of the 480-high ACE images, rescaled to 1920x1080
        uses_act=True,
    ),
}


def get_dataset(name: str) -> PaperDataset:
    """``DATASETS[name]``; raises ``ValueError`` naming the datasets when ``name`` is not one of them."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None


def model_dir(root: str | Path, dataset: str, scene: str) -> Path:
    """The original's trained model folder: ``ACT_Scaffold_GS/data/<dataset>/scene_<scene>/train/output``."""
    return Path(root) / "ACT_Scaffold_GS" / "data" / dataset / f"scene_{scene}" / "train" / "output"


def render_dir(root: str | Path, dataset: str, scene: str, estimator: str) -> Path:
    """Where the original writes (and ``gs_cpr_*.py`` reads) the renders at the coarse poses."""
    return (
        Path(root) / "ACT_Scaffold_GS" / "data" / dataset / f"scene_{scene}" / "test" / f"evaluate_{estimator}"
        / "train_output" / "render_single_view"
    )  # fmt: skip


def released_act_path(root: str | Path, scene: str) -> Path:
    """The released ACT checkpoint of a Cambridge scene: ``ACT_Scaffold_GS/logs/paper_models/<Scene>/030000.tar``
    (where ``render_pred_cam_act.py`` reads it: ``--ft_path ./logs/paper_models/``, ``--act_itr 30000``)."""
    return Path(root) / "ACT_Scaffold_GS" / "logs" / "paper_models" / scene / "030000.tar"


@dataclass(frozen=True)
class ActWeights:
    """ACT weights found for a scene: the file and the channel layout they were trained with (the released
    checkpoints: the original's channel-first reshape, ``legacy_layout``; gscpr's ``act.pt``: per-pixel RGB)."""

    path: Path
    legacy_layout: bool

    def describe(self) -> str:
        """``ACT <path> (legacy channel layout)`` or ``ACT <path> (per-pixel RGB)``."""
        return f"ACT {self.path} ({'legacy channel layout' if self.legacy_layout else 'per-pixel RGB'})"

    def load(self, device="cpu"):
        """The :class:`gscpr.splat.act.ACTModule`; raises ``FileNotFoundError`` / ``ValueError`` as
        :func:`~gscpr.splat.act.load_act_checkpoint` does."""
        from ..splat.act import load_act_checkpoint

        return load_act_checkpoint(self.path, device)


def find_act_weights(root: str | Path, scene: str, model: str | Path | None = None) -> ActWeights | None:
    """The ACT weights to colour a Cambridge scene's renders with, or None when there are none.

    First ``act.pt`` in the scene model's folder (``model``, default :func:`model_dir`), or in its latest
    ``point_cloud/iteration_<N>/``: trained by gscpr with that model, in the correct per-pixel layout. Then the
    released checkpoint (:func:`released_act_path`), in the legacy layout it was trained with. Both the paper
    scripts' renders made on the fly and ``gscpr render --dataset cambridge`` (``script_render_pred_cam.sh``)
    take them from here.
    """
    folder = Path(model) if model is not None else model_dir(root, "cambridge", scene)
    if folder.is_file():  # a model given as its file: the weights sit beside it
        folder = folder.parent
    step = lambda p: int(p.parent.name[10:]) if p.parent.name[10:].isdigit() else -1  # noqa: E731  iteration_<N>
    by_iteration = sorted(folder.glob(f"point_cloud/iteration_*/{ACT_FILE}"), key=step)
    for ours in (folder / ACT_FILE, *by_iteration[::-1]):
        if ours.is_file():
            return ActWeights(ours, legacy_layout=False)
    released = released_act_path(root, scene)
    return ActWeights(released, legacy_layout=True) if released.is_file() else None
