"""Queries: the render on disk read with the query, checked against its camera."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.data.frame import DatasetError, Frame
from gscpr.data.images import load_rgb
from gscpr.poses import UnknownNameError
from gscpr.queries import Query, RenderColor, build_queries, load_query

CAM = Camera.centered(8, 6, 10.0)


def write(tmp_path, name, size, depth_shape):
    cv2.imwrite(str(tmp_path / name), np.full((size[1], size[0], 3), 50, np.uint8))
    np.save(tmp_path / name.replace(".png", ".npy"), np.full(depth_shape, 2.0, np.float32))
    return tmp_path / name, tmp_path / name.replace(".png", ".npy")


def test_a_render_on_disk_is_read_with_its_query_and_checked_against_the_camera(tmp_path):
    query = write(tmp_path, "q.png", (8, 6), (6, 8))[0]
    files = write(tmp_path, "r.png", (8, 6), (1, 6, 8))  # depth as a rasterizer returns it: [1, H, W]
    image, render = load_query(Query("q", query, CAM, np.eye(4), render_files=files), load_rgb)
    assert image.shape == (6, 8, 3) and render.depth.shape == (6, 8) and render.rgb.shape == (6, 8, 3)
    for name, size, depth in (("big.png", (16, 12), (12, 16)), ("depth.png", (8, 6), (12, 16))):
        bad = write(tmp_path, name, size, depth)
        wrong = bad[0] if name == "big.png" else bad[1]
        with pytest.raises(DatasetError, match=f"{wrong}: render is 16x12, the query's camera 8x6"):
            load_query(Query("q", query, CAM, np.eye(4), render_files=bad), load_rgb)


def test_a_query_says_where_its_render_comes_from(tmp_path):
    files = (tmp_path / "r.png", tmp_path / "r.npy")
    assert Query("q", tmp_path, CAM, np.eye(4), render_files=files).render_source() == {
        "from": "file",
        "path": str(files[0]),
    }
    act = RenderColor(lambda image: lambda rgb: rgb, "ACT weights.tar (legacy channel layout)")
    assert Query("q", tmp_path, CAM, np.eye(4), render_color=act).render_source() == {
        "from": "on the fly",
        "color": "ACT weights.tar (legacy channel layout)",
    }
    assert Query("q", tmp_path, CAM, np.eye(4)).render_source() == {"from": "on the fly", "color": None}


def frames_named(*names):
    return [Frame(n, Path("/img") / n.replace("/", "_"), CAM, np.eye(4)) for n in names]


def test_names_match_exactly_first_then_by_the_name_scheme():
    frames = frames_named("seq-03-frame-000000.color.png", "seq-03-frame-000001.color.png")
    coarse = {"seq-03/frame-000000.color.png": np.eye(4), "./seq-03-frame-000001.color.png": np.eye(4),
              "seq-04/frame-000000.color.png": np.eye(4)}  # fmt: skip
    queries, missing = build_queries(frames, coarse)
    assert [(q.name, q.image_path.name) for q in queries] == [
        ("seq-03/frame-000000.color.png", "seq-03-frame-000000.color.png"),
        ("./seq-03-frame-000001.color.png", "seq-03-frame-000001.color.png"),
    ]
    assert missing == ["seq-04/frame-000000.color.png"]


def test_two_coarse_poses_of_one_image_are_an_error_naming_both():
    frames = frames_named("seq-03-frame-000000.color.png")
    coarse = {"seq-03-frame-000000.color.png": np.eye(4), "seq-03/frame-000000.color.png": np.eye(4)}
    with pytest.raises(UnknownNameError, match="'seq-03-frame-000000.color.png' and 'seq-03/frame-000000.color.png' "
                       "are both image 'seq-03-frame-000000.color.png'"):  # fmt: skip
        build_queries(frames, coarse)


def test_a_scheme_that_makes_one_name_fit_two_images_is_an_error_naming_both():
    # Two folders with the same file names: the 12-Scenes scheme (the folder dropped) makes them one name.
    frames = frames_named("a/frame-000001.color.jpg", "b/frame-000001.color.jpg")
    queries, _ = build_queries(frames, {"b/frame-000001.color.jpg": np.eye(4)})  # exact: no ambiguity
    assert [q.image_path.name for q in queries] == ["b_frame-000001.color.jpg"]
    with pytest.raises(UnknownNameError, match="'frame-000001.color.jpg' is both 'a/frame-000001.color.jpg' and "
                       "'b/frame-000001.color.jpg' under the 12scenes name scheme"):  # fmt: skip
        build_queries(frames, {"frame-000001.color.jpg": np.eye(4)})


def _turned_photo(path: Path, orientation: int | None) -> None:
    """A 24x16 photo saved turned (16x24 stored), with an EXIF orientation that turns it back on display."""
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [6, 8, None])
def test_a_photo_turned_by_its_exif_orientation_is_read_as_stored_and_said(tmp_path, orientation):
    """The camera describes the image as shown (24x16), the file stores it turned (16x24) with an EXIF orientation:
    the pixels are read as stored (what COLMAP and the 3DGS trainers read), and the refusal names the orientation
    instead of asking about the intrinsics; without one it asks."""
    path = tmp_path / "IMG 0001.jpg"
    _turned_photo(path, orientation)
    q = Query("IMG 0001.jpg", path, Camera.centered(24, 16, 20.0), np.eye(4))
    with pytest.raises(DatasetError) as info:
        load_query(q, load_rgb)
    said = str(info.value)
    assert said.startswith(f"{path}: image is 16x24, camera says 24x16")
    if orientation is None:
        assert said.endswith("(wrong intrinsics?)") and "EXIF" not in said
    else:
        assert f"EXIF orientation {orientation} shows it rotated" in said and "as stored" in said
        assert "wrong intrinsics" not in said
