import numpy as np
import pytest

from gscpr.bench.protocols import PROTOCOLS, frame_index, perturb_frames
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.synthetic import look_at_origin

LEGO_DISTANCE = 4.0311


def orbit(n: int, radius: float = LEGO_DISTANCE) -> np.ndarray:
    """``n`` NeRF-synthetic-like w2c poses on a sphere, looking at the origin."""
    rng = np.random.default_rng(1)
    return np.stack([look_at_origin(rng, radius) for _ in range(n)])


def test_gsfeatloc_noise_is_its_protocol():
    """Gaussian magnitudes (12.10°, 0.87 units at NeRF-synthetic scale), positive-octant axes, errors equal to
    the drawn magnitudes, one seeded sequence over the test split."""
    gt = orbit(200)
    names = [f"test/r_{i}.png" for i in range(200)]
    coarse, noise = perturb_frames(PROTOCOLS["gsfeatloc"], gt, names, LEGO_DISTANCE)
    rot, trans = pose_errors(coarse, gt)
    angles = np.array([z["rot_deg"] for z in noise])
    shifts = np.array([z["trans"] for z in noise])
    np.testing.assert_allclose(rot, np.abs(angles), atol=1e-6)
    np.testing.assert_allclose(trans, np.abs(shifts), atol=1e-9)
    assert 10.5 < angles.std() < 13.7 and 0.75 < shifts.std() < 1.0  # N(0, 12.10) and N(0, 0.87), 200 draws
    assert (angles < 0).any() and (angles > 0).any()
    assert all(min(z["rot_axis"]) >= 0 and min(z["trans_axis"]) >= 0 for z in noise)
    # A folder keeping every 4th view (as ../shared does) gets the same noise for the views it has.
    sub, _ = perturb_frames(PROTOCOLS["gsfeatloc"], gt[::4], names[::4], LEGO_DISTANCE)
    np.testing.assert_allclose(sub, coarse[::4])
    again, _ = perturb_frames(PROTOCOLS["gsfeatloc"], gt, names, LEGO_DISTANCE)
    np.testing.assert_array_equal(again, coarse)
    other, _ = perturb_frames(PROTOCOLS["gsfeatloc"], gt, names, LEGO_DISTANCE, seed=1)
    assert not np.allclose(other, coarse)


@pytest.mark.parametrize(
    "name, rot_range, trans_range",
    [("icomma-small", (0, 20), (0, 0.1)), ("icomma-medium", (20, 40), (0.1, 0.2))],
)
def test_icomma_ranges_scale_with_the_scene(name, rot_range, trans_range):
    gt = orbit(300, radius=2 * LEGO_DISTANCE)  # a scene twice as large: translations twice as long
    coarse, _ = perturb_frames(PROTOCOLS[name], gt, [f"v{i}" for i in range(300)], 2 * LEGO_DISTANCE)
    rot, trans = pose_errors(coarse, gt)
    assert rot.min() >= rot_range[0] - 1e-6 and rot.max() <= rot_range[1] + 1e-6
    assert trans.min() >= 2 * trans_range[0] - 1e-9 and trans.max() <= 2 * trans_range[1] + 1e-9
    assert rot.max() - rot.min() > 0.8 * (rot_range[1] - rot_range[0])  # spread over the range


def test_coarse_like_protocols_have_their_medians():
    gt = orbit(2000, radius=2.0)
    for name, med_rot, med_trans in (("coarse-ace", 0.3, 0.01), ("coarse-dfnet", 2.0, 0.06)):
        coarse, _ = perturb_frames(PROTOCOLS[name], gt, [f"v{i}" for i in range(2000)], 2.0)
        rot, trans = pose_errors(coarse, gt)
        assert abs(np.median(rot) / med_rot - 1) < 0.1 and abs(np.median(trans) / med_trans - 1) < 0.1


def test_frame_index_reads_blender_names():
    assert frame_index("test/r_104.png", 3) == 104 and frame_index("r_7", 0) == 7
    assert frame_index("images/0001.jpg", 5) == 5 and frame_index("test/br_3.png", 2) == 2


def test_perturb_frames_is_perturb_pose_in_the_camera_frame():
    gt = orbit(12)
    coarse, noise = perturb_frames(PROTOCOLS["icomma-small"], gt, [f"v{i}" for i in range(12)], LEGO_DISTANCE)
    for T, c, z in zip(gt, coarse, noise, strict=True):
        alone = perturb_pose(T, z["rot_deg"], z["trans"], frame="camera", rot_axis=z["rot_axis"],
                             trans_axis=z["trans_axis"])  # fmt: skip
        np.testing.assert_array_equal(alone, c)
