"""Copy the scenes a GPU job needs from ../shared/data into .gpu/ (ignored by git), small enough to carry.

    python benchmarks/prepare_gpu_data.py mic lego fox fern

The device tool carries at most 64 MiB per call, so NeRF-synthetic scenes are composited on white (the usual
"white background" protocol) and re-encoded as JPEG (``--quality``, 95 by default; mic is used at 400x400
for the demo model); the file paths in the copied transforms point at the JPEGs. The fox and fern captures are
copied as they are (JPEG already). Frames whose image ../shared does not hold (it keeps 50 of lego's and 25 of
mic's 200 test views) are left out. Test PSNRs measured on these copies are against the JPEGs, as the results say.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2

from gscpr.data import load_rgb
from gscpr.data.images import to_uint8

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SCENES = {
    "mic": ("nerf_synthetic/mic", 400),
    "lego": ("nerf_synthetic/lego", 800),
    "fox": ("instant_ngp_fox", None),
    "fern": ("nerf_llff_data/fern", None),
}


def copy_blender(src: Path, dst: Path, size: int, quality: int = 95) -> None:
    for split in ("train", "test"):
        data = json.loads((src / f"transforms_{split}.json").read_text())
        # ../shared keeps every 4th (lego) or 8th (mic) test view: copy the frames whose image is there.
        frames = [f for f in data["frames"] if (src / f"{f['file_path'].removeprefix('./')}.png").is_file()]
        (dst / split).mkdir(parents=True, exist_ok=True)
        for f in frames:
            rel = f["file_path"].removeprefix("./")
            img = load_rgb(src / f"{rel}.png", background=(1.0, 1.0, 1.0))
            if img.shape[0] != size:
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            bgr = cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(dst / f"{rel}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            f["file_path"] = f"./{rel}.jpg"
        (dst / f"transforms_{split}.json").write_text(json.dumps({**data, "frames": frames}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenes", nargs="+", choices=list(SCENES))
    p.add_argument("--shared", type=Path, default=SHARED)
    p.add_argument("--out", type=Path, default=Path(".gpu"))
    p.add_argument(
        "--quality",
        type=int,
        default=95,
        help="JPEG quality of the copies; below 95 fox's JPEGs are re-encoded too (90: lego in 12 MiB)",
    )
    args = p.parse_args()
    for name in args.scenes:
        rel, size = SCENES[name]
        src, dst = args.shared / rel, args.out / name
        if dst.exists():
            shutil.rmtree(dst)
        if size is None:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("SOURCE.md"))
            if args.quality < 95:  # re-encode the capture's JPEGs in place (same names, same size)
                for jpg in dst.rglob("*.jpg"):
                    cv2.imwrite(str(jpg), cv2.imread(str(jpg)), [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        else:
            copy_blender(src, dst, size, args.quality)
        mb = sum(f.stat().st_size for f in dst.rglob("*") if f.is_file()) / 2**20
        print(f"{name}: {dst} ({mb:.1f} MiB)")


if __name__ == "__main__":
    main()
