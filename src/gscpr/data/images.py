"""Reading images as float RGB, compositing transparent ones on a background.

Images are opened with Pillow and every mode it opens is converted by its meaning (Pillow's modes,
https://pillow.readthedocs.io/en/stable/handbook/concepts.html#modes):

- ``RGB``, ``RGBX``, ``YCbCr``, ``LAB``, ``HSV``: colour, converted to RGB.
- ``RGBA``, ``RGBa``: colour composited on the background by its alpha (premultiplied colour un-multiplied).
- ``L``, ``1``: grey, repeated to three channels. ``LA``, ``La``: grey with alpha, composited.
- ``P``, ``PA``: palette colours looked up; transparent entries composited on the background.
- ``CMYK``: Pillow's ``R = (255 - C)(255 - K) / 255`` (an embedded ICC profile is not applied; Adobe's inverted
  CMYK JPEGs are un-inverted by Pillow's decoder).
- ``I;16`` (16-bit grey): divided by 65535. ``I`` (32-bit integer grey, how older Pillow opens 16-bit PNGs):
  divided by 65535, refused with values outside [0, 65535].
- ``F`` (32-bit float grey): taken as [0, 1] and clipped, refused with NaN or infinity.

A single transparent colour (PNG ``tRNS`` on an ``L`` or ``RGB`` image) counts as alpha. The pixels are read as
stored: the EXIF orientation is not applied, since a dataset's intrinsics describe the stored pixels (COLMAP,
instant-ngp and the 3DGS trainers read them so); where that is the likely cause of a failure, it is said
(:func:`exif_note`, :func:`size_mismatch`). Multi-frame
files (GIF, TIFF pages, phones' MPO) give their first frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..outputs import not_there
from ..text import plural
from .frame import DatasetError

__all__ = ["exif_note", "exif_orientation", "image_size", "load_rgb", "size_mismatch", "to_uint8"]

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


@contextmanager
def _open(path: Path, decode: bool = True) -> Iterator[Image.Image]:
    """The image at ``path``, decoded (or its header only); DatasetError in one line naming the file for what is
    missing, cannot be opened, is not an image or cannot be decoded."""
    if not path.is_file():
        raise DatasetError(f"{path}: {not_there(path, 'image')}")
    try:
        f = path.open("rb")
    except OSError as e:  # permissions, a file gone since
        raise DatasetError(f"{path}: cannot open ({e.strerror or e})") from None
    with f:
        try:
            im = Image.open(f)
        except UnidentifiedImageError:
            size = path.stat().st_size
            why = "empty file" if size == 0 else f"{plural(size, 'byte')} in no image format Pillow reads"
            raise DatasetError(f"{path}: not an image ({why})") from None
        except Image.DecompressionBombError as e:
            raise DatasetError(f"{path}: image too large to read ({e})") from None
        except (OSError, ValueError, SyntaxError) as e:  # a format recognised, its header cut or corrupt
            raise DatasetError(f"{path}: damaged image, cannot be read ({e})") from None
        with im:
            if decode:
                try:
                    im.load()
                except (OSError, ValueError, SyntaxError, EOFError) as e:  # Pillow's decoders' errors for bad data
                    raise DatasetError(f"{path}: damaged image, cannot be decoded ({e})") from None
            yield im


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file, from its header only (nothing decoded). Raises
    :class:`~gscpr.data.DatasetError` as :func:`load_rgb` does (``no such image``, ``cannot open``, ``not an
    image``, ``damaged image``)."""
    path = Path(path)
    with _open(path, decode=False) as im:
        return im.size


#: What an EXIF orientation (TIFF tag 274) does to the stored pixels on display (EXIF 2.32, section 4.6.5).
ORIENTATIONS = {2: "mirrored", 3: "rotated 180°", 4: "flipped", 5: "mirrored and rotated 90°", 6: "rotated 90°",
                7: "mirrored and rotated 270°", 8: "rotated 270°"}  # fmt: skip


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation of an image file (1-8; 1, "as stored", where there is none or it cannot be read),
    from its header only."""
    try:
        with Image.open(path) as im:
            value = im.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def exif_note(path: str | Path) -> str:
    """``""``, or for an image whose EXIF orientation turns it on display, a note saying that its pixels are read
    as stored: `` (its EXIF orientation 6 shows it rotated 90°; gscpr reads the pixels as stored, which the
    camera's intrinsics describe: rotate the pixels themselves, e.g. with exiftran -a or ImageOps.exif_transpose,
    and the intrinsics with them)``. Added where a query fails, the likely reason when its view is turned."""
    o = exif_orientation(path)
    if o == 1:
        return ""
    return (f" (its EXIF orientation {o} shows it {ORIENTATIONS[o]}; gscpr reads the pixels as stored, which the "
            "camera's intrinsics describe: rotate the pixels themselves, e.g. with exiftran -a or "
            "ImageOps.exif_transpose, and the intrinsics with them)")  # fmt: skip


def size_mismatch(path: str | Path, width: int, height: int, camera_width: int, camera_height: int) -> str:
    """The one line for an image of ``width`` x ``height`` pixels whose camera says another size: ``<path>: image
    is 1920x1080, camera says 1080x1920 (wrong intrinsics?)``, or, where the image's EXIF orientation turns it
    on display to the camera's size, the orientation named (:func:`exif_note`) instead of the question."""
    head = f"{path}: image is {width}x{height}, camera says {camera_width}x{camera_height}"
    note = exif_note(path)
    turned = exif_orientation(path) >= 5  # 5-8 swap width and height on display
    if note and turned and (height, width) == (camera_width, camera_height):
        return head + note
    return head + " (wrong intrinsics?)"


def _has_transparency(im: Image.Image) -> bool:
    """A transparent colour (PNG ``tRNS``, GIF) or a palette with alpha."""
    return "transparency" in im.info or (im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA")


def _to_array(im: Image.Image, path: Path) -> np.ndarray:
    """``float32 [H, W, 3]`` (opaque) or ``[H, W, 4]`` (with alpha), in [0, 1]."""
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.float32)[..., None].repeat(3, axis=2) / 65535.0
    if mode == "I":
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DatasetError(f"{path}: 32-bit integer image with values in [{a.min()}, {a.max()}], not 16-bit")
        return a.astype(np.float32)[..., None].repeat(3, axis=2) / 65535.0
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        if not np.isfinite(a).all():
            raise DatasetError(f"{path}: floating-point image with NaN or infinite values")
        return np.clip(a, 0.0, 1.0)[..., None].repeat(3, axis=2)
    if mode == "La":
        im = im.convert("LA")  # un-premultiplied; Pillow converts La to nothing else
    if im.mode in _ALPHA_MODES or _has_transparency(im):
        im = im.convert("RGBA")  # palette and single-colour transparency become alpha; premultiplied is undone
    elif mode != "RGB":  # CMYK, YCbCr, LAB, HSV, palette, grey, bilevel
        try:
            im = im.convert("RGB")
        except ValueError as e:
            raise DatasetError(f"{path}: image mode {mode} cannot be converted to RGB ({e})") from None
    return np.asarray(im, dtype=np.float32) / 255.0


def load_rgb(path: str | Path, background: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """An image as ``float32 [H, W, 3]`` in [0, 1], every Pillow mode converted by its meaning (see the module
    docstring); transparent pixels are composited on ``background`` (RGB in [0, 1]; pass the render's, so that
    query and render agree).

    Raises :class:`~gscpr.data.DatasetError` in one line naming the file: ``no such image``, ``cannot open``
    (permissions), ``not an image`` (empty, or no format Pillow reads), ``damaged image`` (a truncated or corrupt
    file), or a mode with no meaning as a photo (32-bit integers beyond 16 bits, floats with NaN).
    """
    path = Path(path)
    with _open(path) as im:
        img = _to_array(im, path)
    if img.shape[2] == 4:
        alpha = img[..., 3:]
        img = img[..., :3] * alpha + np.asarray(background, dtype=np.float32) * (1.0 - alpha)
    return np.ascontiguousarray(img)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An image in [0, 1] as ``uint8`` (rounded, clipped); ``uint8`` input is returned as it is."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
