"""The GS-CPR paper's datasets, in one place: scenes, estimators, render intrinsics and the original's input
folders (coarse pose files, ACE-layout scene folders, trained models, renders at the coarse poses).

Every value here is what the original code uses (``gs_cpr_*.py``, ``render_pred_*.py``), so that the
paper's commands reproduce its tables. Paths are relative to the working directory, as in the original.
The output files (refined poses, logs) are named in ``gscpr.paper.naming``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DATASETS", "PaperDataset", "get_dataset", "model_dir", "render_dir"]


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

    def coarse_pose_file(self, coarse_dir: str | Path, estimator: str, scene: str) -> Path:
        """``coarse_poses/<estimator>/<subdir>/poses_<prefix><scene>_.txt``."""
        return Path(coarse_dir) / estimator / self.coarse_subdir / f"poses_{self.coarse_prefix}{scene}_.txt"

    def scene_dir(self, datasets_dir: str | Path, scene: str) -> Path:
        """The ACE-layout folder of a scene: ``datasets/pgt_7scenes_<scene>``, ``datasets/Cambridge_<Scene>``."""
        prefix = {"7scenes": "pgt_7scenes_", "12scenes": "pgt_12scenes_", "cambridge": "Cambridge_"}[self.name]
        return Path(datasets_dir) / f"{prefix}{scene}"

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
