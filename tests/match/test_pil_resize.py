"""Pillow's 8-bit LANCZOS / BICUBIC resize reproduced on tensors (gscpr.match.pil_resize) against Pillow itself."""

import numpy as np
import pytest
import torch
from PIL import Image

from gscpr.match.mast3r import mast3r_geometry
from gscpr.match.pil_resize import pil_resize


def noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# DUSt3R's resizes of the datasets' sizes (7-Scenes, 12-Scenes, Cambridge, a portrait phone capture, Blender,
# LLFF at 1/4, an odd size) to the 512 and 224 networks, shrinking (LANCZOS) and enlarging (BICUBIC)
SIZES = [(640, 480), (1296, 968), (1920, 1080), (540, 960), (800, 800), (1008, 756), (999, 701), (160, 120)]


@pytest.mark.parametrize("width, height", SIZES)
@pytest.mark.parametrize("long_side", [512, 224])
def test_dust3r_resizes_match_pillow_bit_for_bit(width, height, long_side):
    rw, rh, _ = mast3r_geometry(width, height, long_side)
    image = noise(height, width, width + long_side)
    shrink = max(width, height) > long_side
    ref = np.array(Image.fromarray(image).resize((rw, rh), Image.LANCZOS if shrink else Image.BICUBIC))
    got = pil_resize(torch.from_numpy(image).permute(2, 0, 1), rw, rh, "lanczos" if shrink else "bicubic")
    assert got.dtype == torch.uint8 and got.shape == (3, rh, rw)
    assert np.array_equal(got.permute(1, 2, 0).numpy(), ref)


def test_other_filters_dtypes_and_aspect_changes_are_refused():
    u8 = torch.zeros(3, 48, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match="resample must be one of bicubic, lanczos"):
        pil_resize(u8, 32, 24, "bilinear")
    with pytest.raises(ValueError, match="uint8"):
        pil_resize(u8.float(), 32, 24, "lanczos")
    with pytest.raises(ValueError, match="does not keep the aspect ratio"):
        pil_resize(u8, 130, 31, "lanczos")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_the_gpu_the_same_bytes():
    image = torch.from_numpy(noise(480, 640, 3)).permute(2, 0, 1)
    assert torch.equal(pil_resize(image.cuda(), 512, 384, "lanczos").cpu(), pil_resize(image, 512, 384, "lanczos"))
