"""Queries: the render on disk read with the query, checked against its camera."""

import cv2
import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.data.frame import DatasetError
from gscpr.data.images import load_rgb
from gscpr.queries import Query, RenderColor, load_query

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
