"""``gscpr setup``: download 7-Scenes, 12-Scenes or Cambridge Landmarks and prepare them in the ACE layout.

This does what the original's ``datasets/setup_{7scenes,12scenes,cambridge}.py`` (from ACE) do, with these
differences: downloads resume and are size-checked, re-runs skip finished scenes, the SfM pseudo ground truth
is read from a local copy (``--pgt-dir``, the ``pgt/sfm`` folder of visloc_pseudo_gt_limitations) instead of a
git clone, all five Cambridge scenes are prepared (the original's list silently holds only two), 12-Scenes
calibration files are named after their frame (the original numbers them by position, which breaks when a
frame is skipped), and frames without a pGT pose are skipped and counted instead of crashing. Depth maps and
ACE's eye/init tensors are not prepared (GS-CPR does not use them).

Layout written under ``--out`` (default ``datasets``)::

    pgt_7scenes_<scene>/{train,test}/{rgb,poses,calibration}     (7scenes_<scene> without --poses pgt)
    pgt_12scenes_<apt>_<scene>/{train,test}/{rgb,poses,calibration}
    Cambridge_<Scene>/{train,test}/{rgb,poses,calibration} + the original seqN/frameM.png frames
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..geometry import invert_pose
from ..outputs import output_folder, write_image
from ..poses import PoseFileError, read_cambridge_split, read_matrix_pose, read_pose_file, write_matrix_pose
from .cambridge import read_nvm_cameras
from .download import ConnectError, DownloadError, download, extract_zip
from .frame import DatasetError
from .sevenscenes import NOMINAL_FOCAL, read_split_file
from .twelvescenes import read_info, read_split

__all__ = ["check_options", "licenses", "setup_12scenes", "setup_7scenes", "setup_cambridge", "setup_dataset"]

SEVEN_SCENES = ("chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs")
SEVEN_URL = "http://download.microsoft.com/download/2/8/5/28564B23-0828-408F-8631-23B1EFF1DAC8"
SEVEN_LICENSE = "https://www.microsoft.com/en-us/research/project/rgb-d-dataset-7-scenes/"
TWELVE_APTS = ("apt1", "apt2", "office1", "office2")
TWELVE_URL = "http://graphics.stanford.edu/projects/reloc/data"
TWELVE_LICENSE = "http://graphics.stanford.edu/projects/reloc/"
CAMBRIDGE_URL = "https://www.repository.cam.ac.uk/bitstream/handle/1810"
CAMBRIDGE_SCENES = {  # scene -> repository handle
    "KingsCollege": "251342",
    "OldHospital": "251340",
    "ShopFacade": "251336",
    "StMarysChurch": "251294",
    "GreatCourt": "251291",
}
CAMBRIDGE_LICENSE = "https://www.repository.cam.ac.uk/items/53788265-cb98-42ee-b85b-7a0cbc8eddb3"
PGT_LICENSE = "https://github.com/tsattler/visloc_pseudo_gt_limitations"
ACE_HEIGHT = 480  # ACE rescales Cambridge images to this height

# Depth-to-RGB sensor transform of the Kinect used for 7-Scenes (ACE's "calibrated" poses).
D_TO_RGB = np.array(
    [
        [9.9996518012567637e-01, 2.6765126468950343e-03, -7.9041012313000904e-03, -2.5558943178152542e-02],
        [-2.7409311281316700e-03, 9.9996302803027592e-01, -8.1504520778013286e-03, 1.0109636268061706e-04],
        [7.8819942130445332e-03, 8.1718328771890631e-03, 9.9993554558014031e-01, 2.0318321729487039e-03],
        [0.0, 0.0, 0.0, 1.0],
    ]
)

Log = Callable[[str], None]


def _place(src: Path, dst: Path, copy: bool) -> None:
    """A relative symlink ``dst -> src`` (so the tree can move), or a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if copy:
        shutil.copy2(src, dst)
    else:
        dst.symlink_to(os.path.relpath(src, dst.parent))


def _write_focal(path: Path, focal: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(repr(float(focal)), encoding="utf-8")


def _read_pgt(pgt_dir: Path, dataset: str, name: str) -> dict[str, tuple[np.ndarray, float]]:
    """``{name without extension: (c2w, focal)}`` from a pGT file ``<pgt_dir>/<dataset>/<name>.txt``."""
    entries = read_pose_file(pgt_dir / dataset / f"{name}.txt", fmt="pgt")
    return {n.split(".")[0]: (invert_pose(e.pose), e.focal) for n, e in entries.items()}


def _fetch_and_extract(url: str, archive: Path, dest: Path, progress: bool) -> None:
    download(url, archive, progress=progress)
    extract_zip(archive, dest, delete=True)


# ----------------------------------------------------------------------------- 7-Scenes
def setup_7scenes(
    out: str | Path,
    poses: str = "pgt",
    pgt_dir: str | Path | None = None,
    scenes: Sequence[str] = SEVEN_SCENES,
    base_url: str = SEVEN_URL,
    copy: bool = False,
    progress: bool = True,
    log: Log = print,
) -> list[Path]:
    """Download and prepare 7-Scenes; returns the prepared scene folders."""
    out = Path(out)
    source = out / "7scenes_source"
    prepared = []
    for scene in scenes:
        if scene not in SEVEN_SCENES:
            raise DatasetError(f"unknown 7-Scenes scene {scene!r}; expected one of {', '.join(SEVEN_SCENES)}")
        target = out / (f"pgt_7scenes_{scene}" if poses == "pgt" else f"7scenes_{scene}")
        done = target / ".complete"
        if done.is_file():
            log(f"{target}: already prepared, skipping")
            prepared.append(target)
            continue
        scene_src = source / scene
        if not (scene_src / ".complete").is_file():
            log(f"downloading 7-Scenes {scene}")
            _fetch_and_extract(f"{base_url}/{scene}.zip", source / f"{scene}.zip", source, progress)
            for inner in sorted(scene_src.glob("seq-*.zip")):  # each sequence is a zip inside the scene's zip
                extract_zip(inner, scene_src, delete=True)
            (scene_src / ".complete").write_text("")
        for split in ("train", "test"):
            pgt = _read_pgt(Path(pgt_dir), "7scenes", f"{scene}_{split}") if poses == "pgt" else None
            skipped = 0
            split_file = scene_src / ("TrainSplit.txt" if split == "train" else "TestSplit.txt")
            for seq in read_split_file(split_file):
                for img in sorted((scene_src / seq).glob("frame-*.color.png")):
                    base = img.name.split(".")[0]
                    if pgt is not None:
                        if f"{seq}/{base}" not in pgt:
                            skipped += 1
                            continue
                        c2w, focal = pgt[f"{seq}/{base}"]
                    else:
                        c2w = read_matrix_pose(scene_src / seq / f"{base}.pose.txt")
                        if poses == "calibrated":
                            c2w = c2w @ np.linalg.inv(D_TO_RGB)  # depth-sensor pose -> RGB-sensor pose
                        focal = NOMINAL_FOCAL
                    _place(img, target / split / "rgb" / f"{seq}-{img.name}", copy)
                    write_matrix_pose(_mkparent(target / split / "poses" / f"{seq}-{base}.pose.txt"), c2w)
                    _write_focal(target / split / "calibration" / f"{seq}-{base}.calibration.txt", focal)
            if skipped:
                log(f"{target}/{split}: skipped {skipped} frame(s) without a pGT pose")
        done.write_text("")
        prepared.append(target)
    return prepared


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------- 12-Scenes
def setup_12scenes(
    out: str | Path,
    poses: str = "pgt",
    pgt_dir: str | Path | None = None,
    scenes: Sequence[str] = TWELVE_APTS,
    base_url: str = TWELVE_URL,
    copy: bool = False,
    progress: bool = True,
    log: Log = print,
) -> list[Path]:
    """Download and prepare 12-Scenes (``scenes`` are the four apartment/office archives)."""
    out = Path(out)
    source = out / "12scenes_source"
    prepared = []
    for apt in scenes:
        if apt not in TWELVE_APTS:
            raise DatasetError(f"unknown 12-Scenes archive {apt!r}; expected one of {', '.join(TWELVE_APTS)}")
        if not (source / apt / ".complete").is_file():
            log(f"downloading 12-Scenes {apt}")
            _fetch_and_extract(f"{base_url}/{apt}.zip", source / f"{apt}.zip", source, progress)
            (source / apt / ".complete").write_text("")
        for scene_src in sorted(p for p in (source / apt).iterdir() if (p / "data").is_dir()):
            name = f"{apt}_{scene_src.name}"
            target = out / (f"pgt_12scenes_{name}" if poses == "pgt" else f"12scenes_{name}")
            if (target / ".complete").is_file():
                log(f"{target}: already prepared, skipping")
                prepared.append(target)
                continue
            info = read_info(scene_src / "info.txt")
            focal = (info["fx"] + info["fy"]) / 2
            n_test = read_split(scene_src / "split.txt")
            images = sorted((scene_src / "data").glob("frame-*.color.jpg"))
            for split, chosen in (("test", images[:n_test]), ("train", images[n_test:])):
                pgt = _read_pgt(Path(pgt_dir), "12scenes", f"{name}_{split}") if poses == "pgt" else None
                skipped = 0
                for img in chosen:
                    base = img.name.split(".")[0]
                    if pgt is not None:
                        if f"data/{base}" not in pgt:
                            skipped += 1
                            continue
                        c2w = pgt[f"data/{base}"][0]
                    else:
                        try:
                            c2w = read_matrix_pose(img.with_name(f"{base}.pose.txt"))
                        except PoseFileError:
                            skipped += 1  # lost tracking (inf pose)
                            continue
                    _place(img, target / split / "rgb" / img.name, copy)
                    write_matrix_pose(_mkparent(target / split / "poses" / f"{base}.pose.txt"), c2w)
                    # The original writes the info.txt focal here even with pGT poses; so do we.
                    _write_focal(target / split / "calibration" / f"{base}.calibration.txt", focal)
                if skipped:
                    log(f"{target}/{split}: skipped {skipped} frame(s) with an invalid or missing pose")
            (target / ".complete").write_text("")
            prepared.append(target)
    return prepared


# ----------------------------------------------------------------------------- Cambridge
def ace_size(width: int, height: int) -> tuple[int, int]:
    """ACE's Cambridge image size: the short side to 480, the long side rounded up (1920x1080 -> 854x480)."""
    if height > width:
        return ACE_HEIGHT, math.ceil(ACE_HEIGHT * height / width)
    return math.ceil(ACE_HEIGHT * width / height), ACE_HEIGHT


def setup_cambridge(
    out: str | Path,
    scenes: Sequence[str] = tuple(CAMBRIDGE_SCENES),
    base_url: str = CAMBRIDGE_URL,
    progress: bool = True,
    log: Log = print,
) -> list[Path]:
    """Download and prepare Cambridge Landmarks: 480-high ACE images, per-image focal, camera-to-world poses."""
    out = Path(out)
    prepared = []
    for scene in scenes:
        if scene not in CAMBRIDGE_SCENES:
            raise DatasetError(f"unknown Cambridge scene {scene!r}; expected one of {', '.join(CAMBRIDGE_SCENES)}")
        target = out / f"Cambridge_{scene}"
        if (target / ".complete").is_file():
            log(f"{target}: already prepared, skipping")
            prepared.append(target)
            continue
        if not (target / "reconstruction.nvm").is_file():
            log(f"downloading Cambridge {scene}")
            _fetch_and_extract(f"{base_url}/{CAMBRIDGE_SCENES[scene]}/{scene}.zip", out / f"{scene}.zip", out, progress)
            if target.exists():
                shutil.rmtree(target)
            os.replace(out / scene, target)
        # The NVM lists the frames as .jpg; the archive holds them as .png.
        nvm = read_nvm_cameras(target / "reconstruction.nvm")
        cameras = {Path(k).with_suffix(".png").as_posix(): v for k, v in nvm.items()}
        for split in ("train", "test"):
            poses = read_cambridge_split(target / f"dataset_{split}.txt")
            skipped = 0
            for name, w2c in tqdm(poses.items(), desc=f"{scene} {split}", disable=not progress):
                if name not in cameras or np.abs(w2c[:3, 3]).max() > 10000:
                    skipped += 1  # not in the reconstruction, or an outlier camera (as the original skips)
                    continue
                image = cv2.imread(str(target / name), cv2.IMREAD_UNCHANGED)
                if image is None:
                    raise DatasetError(f"{target / name}: cannot read image")
                h, w = image.shape[:2]
                new_w, new_h = ace_size(w, h)
                flat = name.replace("/", "_")
                stem = flat.rsplit(".", 1)[0]
                rgb = _mkparent(target / split / "rgb" / flat)
                write_image(rgb, cv2.resize(image, (new_w, new_h)))
                _write_focal(target / split / "calibration" / f"{stem}.txt", cameras[name][0] * new_w / w)
                write_matrix_pose(_mkparent(target / split / "poses" / f"{stem}.txt"), invert_pose(w2c))
            if skipped:
                log(f"{target}/{split}: skipped {skipped} frame(s) missing from the reconstruction or outliers")
        (target / ".complete").write_text("")
        prepared.append(target)
    return prepared


# ----------------------------------------------------------------------------- command line
def _confirm(licenses: list[str], assume_yes: bool) -> bool:
    for url in licenses:
        print(f"Please check the licence of this data before using it: {url}")
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print("gscpr setup: error: no terminal to confirm the licence; pass --yes to accept it", file=sys.stderr)
        return False
    return input('Confirm with "yes" or abort: ').strip().lower() in ("yes", "y")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = list(LICENSES)  # also in the message when it is missing (argparse names a positional by its metavar)
    parser.add_argument("dataset", choices=names, metavar="{" + ",".join(names) + "}", help="the dataset to prepare")
    parser.add_argument("--out", type=Path, default=Path("datasets"), help="where to prepare (default: datasets)")
    parser.add_argument(
        "--poses",
        choices=["pgt", "calibrated", "original"],
        default="pgt",
        help="7-/12-Scenes poses: SfM pseudo ground truth (the paper's), depth-to-RGB calibrated (ACE's default, "
        "7-Scenes only) or the original KinectFusion/BundleFusion poses",
    )
    parser.add_argument("--pgt-dir", type=Path, help="local pgt/sfm folder with 7scenes/ and 12scenes/ pGT files")
    parser.add_argument("--scenes", nargs="+", help="a subset (7-Scenes scenes, 12-Scenes archives, Cambridge scenes)")
    parser.add_argument("--yes", action="store_true", help="accept the dataset licence without asking")
    parser.add_argument("--base-url", help="download from this mirror instead of the dataset's host")
    parser.add_argument("--copy", action="store_true", help="copy images instead of symlinking them")
    parser.add_argument("--no-progress", action="store_true")


#: The licences to accept before preparing a dataset (the pGT's too for 7-/12-Scenes with ``poses="pgt"``).
LICENSES = {"7scenes": SEVEN_LICENSE, "12scenes": TWELVE_LICENSE, "cambridge": CAMBRIDGE_LICENSE}


def licenses(dataset: str, poses: str = "pgt") -> list[str]:
    """The licence pages a user accepts by preparing ``dataset`` with these ``poses``."""
    return [LICENSES[dataset]] + ([PGT_LICENSE] if dataset != "cambridge" and poses == "pgt" else [])


#: The names ``--scenes`` takes for each dataset (12-Scenes: its archives, one per apartment or office).
SCENE_NAMES = {"7scenes": SEVEN_SCENES, "12scenes": TWELVE_APTS, "cambridge": tuple(CAMBRIDGE_SCENES)}


def check_options(dataset: str, poses: str, pgt_dir: str | Path | None, scenes: Sequence[str] | None = None) -> None:
    """Raise ``ValueError`` saying what is wrong if these options cannot prepare ``dataset``, before anything is
    asked or downloaded (unknown ``scenes`` are named with the known ones)."""
    if dataset not in LICENSES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(LICENSES)}")
    known = SCENE_NAMES[dataset]
    if unknown := [s for s in scenes or () if s not in known]:
        raise ValueError(f"unknown {dataset} scene(s) {', '.join(map(repr, unknown))}; expected any of "
                         f"{', '.join(known)}")  # fmt: skip
    if dataset != "cambridge" and poses == "pgt" and not (pgt_dir is not None and (Path(pgt_dir) / dataset).is_dir()):
        raise ValueError(f"--poses pgt needs --pgt-dir with a {dataset}/ folder (the pgt/sfm folder of "
                         "visloc_pseudo_gt_limitations)")  # fmt: skip
    if dataset == "12scenes" and poses == "calibrated":
        raise ValueError("--poses calibrated exists for 7-Scenes only")


def setup_dataset(
    dataset: str,
    out: str | Path = "datasets",
    poses: str = "pgt",
    pgt_dir: str | Path | None = None,
    scenes: Sequence[str] | None = None,
    base_url: str | None = None,
    copy: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Everything ``gscpr setup`` does but asking for the licence (calling this accepts :func:`licenses`):
    download and prepare ``dataset`` (``7scenes``, ``12scenes`` or ``cambridge``) under ``out``; returns the
    scene folders. Raises ``ValueError`` for options that do not go together, :class:`DownloadError`,
    :class:`DatasetError` or ``PoseFileError``."""
    check_options(dataset, poses, pgt_dir, scenes)
    base_url = base_url.rstrip("/") if base_url else None  # "https://mirror/" + "/scene.zip": no "//" in the path
    kw = {"scenes": tuple(dict.fromkeys(scenes))} if scenes else {}  # each once, in the order given
    # Checked writable and locked before any download; Ctrl-C says how many scene folders are complete.
    with output_folder(out, count=lambda: len(list(Path(out).glob("*/.complete"))), unit="prepared scene folders"):
        if dataset == "7scenes":
            return setup_7scenes(out, poses, pgt_dir, base_url=base_url or SEVEN_URL, copy=copy, progress=progress,
                                 **kw)  # fmt: skip
        if dataset == "12scenes":
            return setup_12scenes(out, poses, pgt_dir, base_url=base_url or TWELVE_URL, copy=copy,
                                  progress=progress, **kw)  # fmt: skip
        return setup_cambridge(out, base_url=base_url or CAMBRIDGE_URL, progress=progress, **kw)


def run(args: argparse.Namespace) -> int:
    try:  # the options first: no licence question for a command that cannot run
        check_options(args.dataset, args.poses, args.pgt_dir, args.scenes)
    except ValueError as e:
        print(f"gscpr setup: error: {e}", file=sys.stderr)
        return 2
    if not _confirm(licenses(args.dataset, args.poses), args.yes):
        print("aborted: licence not accepted", file=sys.stderr)
        return 2
    try:
        done = setup_dataset(args.dataset, args.out, args.poses, args.pgt_dir, args.scenes, args.base_url, args.copy,
                             progress=not args.no_progress)  # fmt: skip
    except ConnectError as e:
        print(f"gscpr setup: error: {e}: is this machine online? (--base-url downloads from a mirror)",
              file=sys.stderr)  # fmt: skip
        return 2
    except (DownloadError, DatasetError, PoseFileError) as e:
        print(f"gscpr setup: error: {e}", file=sys.stderr)
        return 2
    print(f"prepared {len(done)} scene folder(s) under {args.out}")
    return 0
