"""Images: every mode a photo library opens read by its meaning, transparency on the caller's background, and one
clear line for what is not an image."""

import numpy as np
import pytest
from PIL import Image

from gscpr.data import DatasetError, load_rgb
from gscpr.data.images import image_size, to_uint8

GREEN = (0.0, 1.0, 0.0)


def save(tmp_path, image: Image.Image, name: str, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def two_pixels(mode: str, first, second) -> Image.Image:
    """A 2x1 image of ``mode`` with the two given pixel values."""
    im = Image.new(mode, (2, 1))
    im.putpixel((0, 0), first)
    im.putpixel((1, 0), second)
    return im


@pytest.mark.parametrize(
    "mode,name,first,second,rgb",
    [
        ("RGB", "a.png", (255, 0, 0), (10, 20, 30), [[255, 0, 0], [10, 20, 30]]),
        ("L", "a.png", 200, 17, [[200] * 3, [17] * 3]),
        ("1", "a.png", 1, 0, [[255] * 3, [0] * 3]),
        # Grey + alpha: opaque grey, transparent on the background.
        ("LA", "a.png", (200, 255), (200, 0), [[200] * 3, [0, 255, 0]]),
        ("RGBA", "a.png", (255, 0, 0, 255), (255, 0, 0, 0), [[255, 0, 0], [0, 255, 0]]),
        ("RGBA", "a.webp", (0, 0, 255, 255), (0, 0, 255, 0), [[0, 0, 255], [0, 255, 0]]),
        # CMYK (a TIFF keeps it exactly): cyan is (0, 255, 255); R = (255 - C)(255 - K) / 255.
        ("CMYK", "a.tif", (255, 0, 0, 0), (128, 0, 0, 128), [[0, 255, 255], [63, 127, 127]]),
        ("YCbCr", "a.tif", (255, 128, 128), (0, 128, 128), [[255] * 3, [0] * 3]),
        ("LAB", "a.tif", (255, 128, 128), (0, 128, 128), [[255] * 3, [0] * 3]),  # L* 100 and 0, neutral
    ],
)
def test_each_mode_is_read_by_its_meaning(tmp_path, mode, name, first, second, rgb):
    path = save(
        tmp_path, two_pixels(mode, first, second), name, **({"lossless": True} if name.endswith("webp") else {})
    )
    assert Image.open(path).mode == mode  # the file really holds that mode
    out = load_rgb(path, background=GREEN)
    assert out.dtype == np.float32 and out.shape == (1, 2, 3)
    np.testing.assert_allclose(to_uint8(out).astype(int), [rgb], atol=1)  # LAB's conversion is off by one


def test_a_cmyk_jpeg_is_its_colours_not_a_white_image(tmp_path):
    im = Image.new("CMYK", (32, 16), (255, 0, 0, 0))  # cyan on the left ...
    im.paste((0, 0, 0, 255), (16, 0, 32, 16))  # ... black (K) on the right
    path = save(tmp_path, im, "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = to_uint8(load_rgb(path)).astype(int)
    np.testing.assert_allclose(out[8, 4], [0, 255, 255], atol=3)
    np.testing.assert_allclose(out[8, 28], [0, 0, 0], atol=3)


def test_palette_images_with_and_without_transparency(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    opaque = save(tmp_path, im, "p.png")
    np.testing.assert_array_equal(to_uint8(load_rgb(opaque, GREEN))[0], [[255, 0, 0], [0, 0, 255]])
    transparent = save(tmp_path, im, "pt.png", transparency=1)  # entry 1 (blue) is transparent (tRNS)
    assert Image.open(transparent).mode == "P" and "transparency" in Image.open(transparent).info
    np.testing.assert_array_equal(to_uint8(load_rgb(transparent, GREEN))[0], [[255, 0, 0], [0, 255, 0]])
    gif = save(tmp_path, im, "pt.gif", transparency=1)
    np.testing.assert_array_equal(to_uint8(load_rgb(gif, GREEN))[0], [[255, 0, 0], [0, 255, 0]])


def test_a_transparent_colour_on_a_grey_png_is_alpha(tmp_path):
    path = save(tmp_path, two_pixels("L", 7, 99), "t.png", transparency=7)
    np.testing.assert_array_equal(to_uint8(load_rgb(path, GREEN))[0], [[0, 255, 0], [99, 99, 99]])


def test_sixteen_bit_and_float_grey(tmp_path):
    a = np.array([[0, 1000, 65535]], np.uint16)
    png = save(tmp_path, Image.fromarray(a), "g16.png")
    assert Image.open(png).mode.startswith("I")  # I;16 (or I in older Pillow)
    np.testing.assert_allclose(load_rgb(png)[0, :, 0], a[0] / 65535.0, rtol=1e-6)
    np.testing.assert_allclose(load_rgb(png)[0, 1], [1000 / 65535.0] * 3, rtol=1e-6)
    i32 = save(tmp_path, Image.fromarray(a.astype(np.int32)), "i32.tif")
    assert Image.open(i32).mode == "I"
    np.testing.assert_allclose(load_rgb(i32)[0, :, 0], a[0] / 65535.0, rtol=1e-6)
    f = save(tmp_path, Image.fromarray(np.array([[0.25, -1.0, 2.0]], np.float32)), "f.tif")
    assert Image.open(f).mode == "F"
    np.testing.assert_allclose(load_rgb(f)[0, :, 1], [0.25, 0.0, 1.0])  # clipped to [0, 1]


def premultiplied_tiff(tmp_path, im: Image.Image, name: str):
    """``im`` (RGBA or LA) saved as a TIFF whose alpha is marked associated (premultiplied: ExtraSamples = 1)."""
    data = save(tmp_path, im, name).read_bytes()
    tag = b"\x52\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # ExtraSamples, SHORT, 1 value: 2 (unassociated)
    assert data.count(tag) == 1
    (tmp_path / name).write_bytes(data.replace(tag, tag[:-2] + b"\x01\x00"))
    return tmp_path / name


def test_premultiplied_alpha_is_undone(tmp_path):
    rgba = premultiplied_tiff(tmp_path, Image.new("RGBA", (1, 1), (100, 50, 0, 128)), "pm.tif")
    la = premultiplied_tiff(tmp_path, Image.new("LA", (1, 1), (100, 128)), "la.tif")
    assert Image.open(la).mode == "La"
    # Premultiplied colour over black is the stored colour itself.
    np.testing.assert_array_equal(to_uint8(load_rgb(rgba, background=(0.0, 0.0, 0.0)))[0, 0], [100, 50, 0])
    np.testing.assert_array_equal(to_uint8(load_rgb(la, background=(0.0, 0.0, 0.0)))[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(to_uint8(load_rgb(la, background=GREEN))[0, 0], [100, 227, 100])


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "not an image (empty file)"),
        (b"hello, this is text\n", "not an image (20 bytes in no image format Pillow reads)"),
        (b"\x89PNG broken", "not an image"),
    ],
)
def test_what_is_not_an_image_says_so_in_one_line(tmp_path, content, message):
    path = tmp_path / "q.png"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        load_rgb(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value) and "imageio" not in str(info.value) and "plugin" not in str(info.value)


@pytest.mark.parametrize("keep", [300, 3000])  # the header cut (fails to open), the pixels cut (fails to decode)
def test_a_truncated_image_is_damaged(tmp_path, keep):
    path = save(tmp_path, Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), "t.jpg")
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(DatasetError, match=f"^{path}: damaged image"):
        load_rgb(path)


def test_a_missing_image(tmp_path):
    with pytest.raises(DatasetError, match="no such image"):
        load_rgb(tmp_path / "nope.png")


def test_integers_beyond_sixteen_bits_and_nan_are_refused(tmp_path):
    big = save(tmp_path, Image.fromarray(np.array([[0, 70000]], np.int32)), "big.tif")
    with pytest.raises(DatasetError, match=r"values in \[0, 70000\], not 16-bit"):
        load_rgb(big)
    nan = save(tmp_path, Image.fromarray(np.array([[0.5, np.nan]], np.float32)), "nan.tif")
    with pytest.raises(DatasetError, match="NaN or infinite"):
        load_rgb(nan)


def test_an_unreadable_image_says_why(tmp_path, monkeypatch):
    path = save(tmp_path, Image.new("RGB", (2, 2)), "locked.png")

    def denied(self, *args, **kwargs):  # as a chmod 0 file gives any user but root
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "open", denied)
    with pytest.raises(DatasetError, match=f"^{path}: cannot open \\(Permission denied\\)$"):
        load_rgb(path)


def test_image_size_reads_the_header_and_says_what_is_not_an_image(tmp_path):
    path = save(tmp_path, Image.fromarray(np.random.default_rng(0).integers(0, 255, (54, 96, 3), np.uint8)), "a.png")
    path.write_bytes(path.read_bytes()[:5000])  # pixels cut: the size is still known
    assert image_size(path) == (96, 54)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=f"^{tmp_path / 'empty.png'}: not an image \\(empty file\\)$"):
        image_size(tmp_path / "empty.png")
    with pytest.raises(DatasetError, match="no such image"):
        image_size(tmp_path / "nope.png")


def test_exif_orientation_is_read_from_the_header_and_noted_only_when_it_turns_the_image(tmp_path):
    from PIL import Image

    from gscpr.data.images import exif_note, exif_orientation, size_mismatch

    plain, turned, damaged = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    Image.new("RGB", (8, 4)).save(plain)
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.new("RGB", (8, 4)).save(turned, exif=exif.tobytes())
    damaged.write_bytes(b"\xff\xd8 cut")
    assert [exif_orientation(p) for p in (plain, turned, damaged, tmp_path / "none.jpg")] == [1, 3, 1, 1]
    assert exif_note(plain) == "" and "EXIF orientation 3 shows it rotated 180°" in exif_note(turned)
    assert load_rgb(turned).shape == (4, 8, 3)  # read as stored, never turned
    # 180°: the size is the same either way, so a size that differs is not the orientation's doing.
    assert size_mismatch(turned, 8, 4, 4, 8).endswith("(wrong intrinsics?)")
