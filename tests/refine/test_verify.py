"""Verification of refined poses (gscpr.refine.verify): its signals, the confidence model, and what the refiner
makes of them on generated scenes (a right pose stays refined; a wrong scene's pose, and a pose one period off in a
repeated texture where the view's non-repeating part disagrees, end unverified)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from gscpr.bench.scene_scale import SUCCESS
from gscpr.camera import Camera
from gscpr.evaluate import within
from gscpr.geometry import make_pose, perturb_pose, pose_errors
from gscpr.refine import RefineConfig, Status, refine_query
from gscpr.refine.verify import (
    FEATURES,
    VARIANTS,
    ConfidenceModel,
    focal_fit,
    gradient_ncc,
    gradient_ncc_many,
    image_agreement,
    inlier_coverage,
    load_confidence_model,
    to_pinhole,
    variant_for,
)
from gscpr.splat import render
from gscpr.synthetic import mirrored_x, pose_inside, textured_room

CAM = Camera.centered(320, 240, 260.0)


def _texture(h=60, w=80, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear")[0].permute(1, 2, 0)


def test_gradient_ncc_is_one_for_the_same_view_whatever_the_exposure_and_low_for_another():
    img, mask = _texture(), torch.ones(60, 80, dtype=torch.bool)
    assert gradient_ncc(img, img, mask) == pytest.approx(1.0)
    assert gradient_ncc(img, 0.5 * img + 0.2, mask) == pytest.approx(1.0)  # gain and offset: same gradients
    assert gradient_ncc(img, 1.0 - img, mask) == pytest.approx(-1.0)
    assert abs(gradient_ncc(img, _texture(seed=1), mask)) < 0.3
    shifted = torch.roll(img, 3, dims=1)
    assert gradient_ncc(img, shifted, mask) < 0.8
    assert np.isnan(gradient_ncc(img, img, torch.zeros(60, 80, dtype=torch.bool)))  # nothing opaque


def test_gradient_ncc_of_several_views_at_once_is_each_views_own():
    query, mask = _texture(), torch.ones(60, 80, dtype=torch.bool)
    views = torch.stack([query, torch.roll(query, 3, dims=1), _texture(seed=1)])
    masks = torch.stack([mask, mask, torch.zeros_like(mask)])
    masks[1, :, :40] = False  # another mask per view
    together = gradient_ncc_many(views, query, masks)
    alone = [gradient_ncc(v, query, m) for v, m in zip(views, masks, strict=True)]
    assert together[:2] == pytest.approx(alone[:2], abs=1e-6) and together[0] == pytest.approx(1.0)
    assert np.isnan(together[2]) and np.isnan(alone[2])


def test_image_agreement_spread_is_large_where_one_part_of_the_view_disagrees():
    query, mask = _texture(80, 80), torch.ones(80, 80, dtype=torch.bool)
    patched = query.clone()
    patched[:40, :40] = _texture(80, 80, seed=2)[:40, :40]  # one quarter of the view is another scene
    (same, same_spread), (part, part_spread) = image_agreement(
        torch.stack([query, patched]), query, mask[None].repeat(2, 1, 1)
    )
    assert same == pytest.approx(1.0) and same_spread == pytest.approx(0.0, abs=1e-6)
    assert part > 0.5 and part_spread > 0.5  # whole-image NCC still high; its cells say where
    assert np.isnan(image_agreement(query[None], query, torch.zeros(1, 80, 80, dtype=torch.bool))[0][1])


def test_inlier_coverage_counts_occupied_cells():
    assert inlier_coverage(np.zeros((0, 2)), (640, 480)) == 0.0
    assert inlier_coverage(np.array([[1.0, 1.0], [2.0, 3.0]]), (640, 480)) == pytest.approx(1 / 64)
    grid = np.stack(np.meshgrid(np.arange(40, 640, 80), np.arange(30, 480, 60)), -1).reshape(-1, 2)
    assert inlier_coverage(grid.astype(float), (640, 480)) == 1.0


def test_focal_fit_finds_the_focal_length_the_correspondences_were_made_with():
    rng = np.random.default_rng(0)
    X = rng.uniform([-2, -2, 3], [2, 2, 8], (300, 3))
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    x = X[:, :2] / X[:, 2:] * 500.0 + [320, 240] + rng.normal(0, 0.3, (300, 2))
    wrong = K.copy()
    wrong[0, 0] = wrong[1, 1] = 600.0
    f, rms = focal_fit(X, x, wrong, (640, 480))
    assert f == pytest.approx(500.0, rel=0.01) and rms < 1.0
    assert np.isnan(focal_fit(X[:5], x[:5], K, (640, 480))[0])


def test_confidence_model_round_trips_and_the_packaged_one_loads():
    flat = ConfidenceModel.uninformative()
    assert flat.predict(dict.fromkeys(FEATURES, 3.0)) == 0.5
    assert ConfidenceModel.from_json(json.loads(json.dumps(flat.to_json()))) == flat
    with pytest.raises(ValueError, match="unknown features"):
        ConfidenceModel.from_json({**flat.to_json(), "features": ["nope"]})
    with pytest.raises(ValueError, match="differ in length"):  # said when read, not at the first prediction
        ConfidenceModel.from_json({**flat.to_json(), "coef": [1.0]})
    for variant, features in VARIANTS.items():  # each variant fit on its own rows, reading its own features
        m = load_confidence_model(variant)
        assert 0.5 <= m.fit["threshold"] < 1 and m.features == features
        assert m.fit["source"] == "benchmarks/fit_confidence.py" and m.fit["queries"] > 100
    assert variant_for(relative=True, rendered=True) == "relative" and variant_for(False, False) == "no_render"


@pytest.fixture(scope="module")
def query(room):
    gt = pose_inside(np.random.default_rng(1))
    return render(room, CAM, gt, backend="torch").rgb[0].numpy(), gt, perturb_pose(gt, 3.0, 0.05, frame="world", rng=1)


def test_a_right_pose_is_refined_with_high_confidence(room, query, xfeat):
    image, gt, coarse = query
    r = refine_query(room, image, CAM, coarse, xfeat, RefineConfig(ransac_px=1.0))
    assert r.status == Status.REFINED and r.confidence > 0.9
    assert r.verify["variant"] == "render" and r.verify["ncc"] > 0.9 and r.verify["ncc_gain"] > 0.2
    assert r.timings["verify"] > 0 and "verify" in r.summary()


def test_a_pose_in_the_wrong_scene_is_not_reported_as_refined(room, query, xfeat):
    image, gt, coarse = query
    cfg = RefineConfig(ransac_px=1.0, recovery=())
    r = refine_query(mirrored_x(room), image, CAM, coarse, xfeat, cfg)
    assert r.status != Status.REFINED
    np.testing.assert_array_equal(r.pose, coarse)  # the coarse pose kept
    if r.status == Status.UNVERIFIED:  # a pose was solved: its confidence and the reason are given
        assert r.confidence < load_confidence_model("render").fit["threshold"]
        assert "verification: confidence" in r.message
        kept = refine_query(mirrored_x(room), image, CAM, coarse, xfeat, replace(cfg, keep_unverified=True))
        assert kept.status == Status.UNVERIFIED and not np.array_equal(kept.pose, coarse)


def test_a_focal_fit_that_did_not_converge_gives_no_focal_ratio(room, query, xfeat, monkeypatch):
    """The run-level check of the intrinsics counts the sign of each query's focal fit: one diverged fit (seen on
    a view of one wall: 1e7 x the focal length, its RMS 4-70 x the solved pose's) must not count as a sign."""
    import gscpr.refine.refiner as refiner

    image, gt, coarse = query
    cfg = RefineConfig(ransac_px=1.0)
    converged = refine_query(room, image, CAM, coarse, xfeat, cfg)
    assert abs(converged.verify["focal_log_ratio"]) < 0.01  # the right focal length: fitted again within 1 %
    monkeypatch.setattr(refiner, "focal_fit", lambda *a, **k: (CAM.fx * 2e7, 50.0))  # diverged
    diverged = refine_query(room, image, CAM, coarse, xfeat, cfg)
    assert diverged.status == Status.REFINED and diverged.verify["focal_log_ratio"] is None
    monkeypatch.setattr(refiner, "focal_fit", lambda *a, **k: (CAM.fx * 1.1, 0.01))  # converged, another focal
    assert refine_query(room, image, CAM, coarse, xfeat, cfg).verify["focal_log_ratio"] == pytest.approx(np.log(1.1))


def test_verification_off_and_thresholds(room, query, xfeat):
    image, gt, coarse = query
    off = refine_query(room, image, CAM, coarse, xfeat, RefineConfig(ransac_px=1.0, verify=False))
    assert off.status == Status.REFINED and off.confidence is None and off.timings["verify"] == 0.0
    strict = refine_query(room, image, CAM, coarse, xfeat, RefineConfig(ransac_px=1.0, min_confidence=1.0))
    assert strict.status == Status.UNVERIFIED and np.array_equal(strict.pose, coarse)
    # a confidence of 0.999... under 1 reads as such, never "1.00 < 1.00"
    said = strict.message.split("verification: confidence ")[1]
    shown, limit = (float(x) for x in said.split(" < "))
    digits = len(said.split(" < ")[0].split(".")[1])  # as few as tell the two apart: rounded to those
    assert shown < limit == 1.0 and abs(shown - strict.confidence) <= 0.5 * 10**-digits + 1e-9
    with pytest.raises(ValueError, match="min_confidence"):
        RefineConfig(min_confidence=1.5)


# A repeated texture: the room's walls along x repeat with a period of 1 (a third of the scene distance, 3). The
# query looks at the wall z = 2 from 3 units away; a coarse pose 0.8 periods off along x sees the texture of the
# next period closer than its own, and the solver follows it (from about 0.7 periods off here).
PERIOD = 1.0


@pytest.fixture(scope="module")
def repeated():
    scene = textured_room(period=PERIOD)
    gt = perturb_pose(make_pose(np.eye(3), -np.array([0.1, 0.0, -1.0])), 3.5, 0.0, frame="camera", rng=0)
    out = render(scene, CAM, gt, backend="torch")
    depth = out.depth[0][out.alpha[0] > 0.5]
    return scene, out.rgb[0].numpy(), gt, float(depth.median())


def _off_along_x(gt: np.ndarray, periods: float) -> np.ndarray:
    """``gt`` turned 2 deg and moved ``periods`` periods along x: a coarse pose."""
    turned = perturb_pose(gt, 2.0, 0.0, frame="world", rng=3)
    return perturb_pose(turned, 0.0, periods * PERIOD, frame="world", trans_axis=np.array([1.0, 0.0, 0.0]))


def test_a_coarse_pose_less_than_half_a_period_off_in_a_repeated_texture_is_refined(repeated, xfeat):
    scene, image, gt, distance = repeated
    r = refine_query(scene, image, CAM, _off_along_x(gt, 0.35), xfeat)
    rot, trans = pose_errors(r.pose, gt)
    assert r.status == Status.REFINED and r.confidence > 0.9 and within(rot, trans / distance, 1.0, 0.01)


def test_in_a_repeated_texture_the_solver_finds_a_pose_one_period_off_with_many_inliers(repeated, xfeat):
    scene, image, gt, distance = repeated
    r = refine_query(scene, image, CAM, _off_along_x(gt, 0.8), xfeat, RefineConfig(verify=False))
    rot, trans = pose_errors(r.pose, gt)
    assert r.status == Status.REFINED and r.num_inliers > 100
    assert rot < 1.0 and trans == pytest.approx(PERIOD, abs=0.05)  # the next period's view, exactly
    assert not within(rot, trans / distance, *SUCCESS)


def test_the_local_spread_of_the_image_agreement_tells_the_pose_one_period_off_from_the_right_one(repeated, xfeat):
    scene, image, gt, _ = repeated
    right = refine_query(scene, image, CAM, _off_along_x(gt, 0.35), xfeat)
    wrong = refine_query(scene, image, CAM, _off_along_x(gt, 0.8), xfeat)
    # The feature ncc_spread: the wrong pose agrees with the query except on the end wall.
    assert right.verify["ncc_spread"] < 0.25 < 0.4 < wrong.verify["ncc_spread"]


def test_a_pose_one_period_off_in_a_repeated_texture_ends_unverified(repeated, xfeat):
    scene, image, gt, distance = repeated
    coarse = _off_along_x(gt, 0.8)
    r = refine_query(scene, image, CAM, coarse, xfeat)
    assert r.status == Status.UNVERIFIED and "verification: confidence" in r.message
    np.testing.assert_array_equal(r.pose, coarse)


def test_a_distorted_query_is_compared_with_the_render_once_resampled_to_its_pinhole():
    """A fisheye image of a pattern, resampled to the pinhole of its K, agrees with the pinhole's own image."""
    cam = Camera(96, 72, 50.0, 50.0, 47.5, 35.5, dist=(0.1, -0.05, 0.01, 0.0), dist_model="fisheye")
    ys, xs = np.mgrid[:72, :96].astype(np.float32)
    pinhole_image = np.stack([np.sin(xs / 3.0), np.cos(ys / 4.0), np.sin((xs + ys) / 5.0)], -1) * 0.5 + 0.5
    fisheye_image = cv2_distort(pinhole_image, cam)
    back, inside = to_pinhole(torch.from_numpy(fisheye_image), cam)
    pinhole = torch.from_numpy(pinhole_image)
    assert gradient_ncc(back, pinhole, inside) > 0.9 > gradient_ncc(torch.from_numpy(fisheye_image), pinhole, inside)
    same, none = to_pinhole(pinhole, cam.without_distortion())
    assert same is pinhole and none is None


def cv2_distort(image: np.ndarray, cam: Camera) -> np.ndarray:
    """``image`` of ``cam``'s pinhole as ``cam`` sees it (each pixel looked up where its ray is in the pinhole)."""
    import cv2

    H, W = image.shape[:2]
    v, u = np.mgrid[:H, :W]
    src = cam.undistort_points(np.stack([u.ravel(), v.ravel()], 1)).reshape(H, W, 2).astype(np.float32)
    return cv2.remap(image, src[..., 0], src[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_pinhole_pixels_whose_ray_a_distortion_model_folds_back_are_not_compared():
    """A wide camera with strong barrel distortion and k1 alone: its polynomial turns back before the pinhole's
    corners, where ``distort_points`` lands inside the image on another ray. Those pixels are outside the mask;
    over the mask, the resampled image is the pinhole's own."""
    cam = Camera(96, 72, 48.0, 48.0, 47.5, 35.5, dist=(-0.3, 0.0, 0.0, 0.0), dist_model="opencv")
    ys, xs = np.mgrid[:72, :96].astype(np.float32)
    pinhole_image = np.stack([np.sin(xs / 3.0), np.cos(ys / 4.0), np.sin((xs + ys) / 5.0)], -1) * 0.5 + 0.5
    back, inside = to_pinhole(torch.from_numpy(cv2_distort(pinhole_image, cam)), cam)
    assert 0.3 < inside.float().mean() < 0.95  # the corners are left out, the middle kept
    err = (back - torch.from_numpy(pinhole_image)).abs().amax(-1)[inside]
    assert float(torch.quantile(err, 0.99)) < 0.2


def test_a_confidence_model_file_without_the_variant_a_run_needs_is_refused_when_the_refiner_is_made(tmp_path, xfeat):
    from gscpr.refine import Refiner

    path = tmp_path / "confidence.json"
    path.write_text(json.dumps({"variants": {v: ConfidenceModel.uninformative(VARIANTS[v]).to_json()
                                             for v in ("render", "no_render")}}))  # fmt: skip
    Refiner(None, xfeat, RefineConfig(confidence_model=str(path)))  # the absolute step has what it needs
    with pytest.raises(ValueError, match=r"confidence.json: no confidence model for 'relative'"):
        Refiner(None, xfeat, RefineConfig(confidence_model=str(path), relative=True))
    Refiner(None, xfeat, RefineConfig(confidence_model=str(path), relative=True, verify=False))  # not read
    with pytest.raises(ValueError, match="missing.json: not a confidence model file"):
        Refiner(None, xfeat, RefineConfig(confidence_model=str(tmp_path / "missing.json")))
