import numpy as np
import pytest

from gscpr.geometry import camera_center, invert_pose, make_pose, perturb_pose, pose_errors, pose_to_qt, qvec_to_rotmat
from gscpr.poses import (
    PoseFileError,
    UnknownNameError,
    align_names,
    canonical_name,
    guess_name_scheme,
    read_cambridge_split,
    read_matrix_pose,
    read_pose_file,
    read_poses,
    write_matrix_pose,
    write_poses,
)


def random_poses(names, seed=0):
    rng = np.random.default_rng(seed)
    return {n: make_pose(qvec_to_rotmat(rng.normal(size=4)), rng.normal(size=3)) for n in names}


@pytest.mark.parametrize("fmt", ["qt", "pgt", "ace"])
def test_write_read_round_trip_is_exact(tmp_path, fmt):
    names = ["seq-01-frame-000000.color.png", "seq-01-frame-000001.color.png", "seq-02-frame-000010.color.png"]
    poses = random_poses(names)
    focal = {n: 525.0 + i for i, n in enumerate(names)}
    extras = {n: (0.1 * i, 0.01 * i, 100 + i) for i, n in enumerate(names)}
    path = tmp_path / "poses.txt"
    write_poses(path, poses, fmt=fmt, focal=focal, extras=extras)
    entries = read_pose_file(path)
    assert list(entries) == names  # file order kept
    for n in names:
        np.testing.assert_allclose(entries[n].pose, poses[n], atol=1e-15)
    for line in path.read_text().splitlines():
        assert float(line.split()[1]) >= 0  # qw >= 0
    if fmt == "pgt":
        assert entries[names[2]].focal == 527.0
    if fmt == "ace":
        assert (entries[names[1]].r_err, entries[names[1]].t_err, entries[names[1]].inliers) == (0.1, 0.01, 101)


def test_reads_the_formats_of_each_estimator(tmp_path):
    q = "0.9820641008254225 0.18407972157001495 -0.03398619964718819 0.022576341405510902"
    t = "-0.027805496007204056 0.4756828248500824 0.947198212146759"
    (tmp_path / "ace.txt").write_text(f"seq-03-frame-000000.color.png {q} {t} 0.0749 0.0034 4221\n")
    (tmp_path / "dfnet.txt").write_text(f"seq-03/frame-000000.color.png {q} {t}\n")
    (tmp_path / "pgt.txt").write_text(f"seq-03/frame-000000.color.png {q} {t} 526.22\n")
    ace = read_pose_file(tmp_path / "ace.txt")["seq-03-frame-000000.color.png"]
    dfnet = read_poses(tmp_path / "dfnet.txt")["seq-03/frame-000000.color.png"]
    pgt = read_pose_file(tmp_path / "pgt.txt")["seq-03/frame-000000.color.png"]
    np.testing.assert_array_equal(ace.pose, dfnet)
    assert ace.inliers == 4221 and pgt.focal == 526.22
    np.testing.assert_allclose(ace.pose[:3, 3], [float(v) for v in t.split()])


@pytest.mark.parametrize(
    "content,match,line",
    [
        ("a 1 0 0 0 0 0 0\nb 1 0 0 0 0 0\n", "7 columns, expected 8", 2),
        ("a 1 0 0 0 0 0 0\nb 1 0 0 0 x 0 0\n", "not a number", 2),
        ("a 1 0 0 0 0 0 nan\n", "NaN or infinite", 1),
        ("a 0 0 0 0 0 0 0\n", "zero length", 1),
        ("a 1 0 0 0 0 0 0\na 1 0 0 0 1 0 0\n", "duplicate image name 'a' \\(first on line 1\\)", 2),
        ("a 1 0 0 0 0 0\n", "expected 8 .* 9 .* or 11", 1),
        ("a 1 0 0 0 0 0 0 -5\n", "focal length must be positive", 1),
        ("a 1 0 0 0 0 0 0 0.1 0.2 3.5\n", "inlier count is not an integer", 1),
        ("\n# only a comment\n", "no poses", None),
    ],
)
def test_malformed_pose_files_name_file_and_line(tmp_path, content, match, line):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(PoseFileError, match=match) as info:
        read_pose_file(path)
    assert str(path) in str(info.value)
    assert info.value.line == line
    if line is not None:
        assert f"{path}:{line}:" in str(info.value)


def test_missing_pose_file(tmp_path):
    with pytest.raises(PoseFileError, match="no such pose file"):
        read_pose_file(tmp_path / "nope.txt")


def test_write_refuses_names_with_spaces_and_bad_poses(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        write_poses(tmp_path / "x.txt", {"a b.png": np.eye(4)})
    bad = np.eye(4)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        write_poses(tmp_path / "x.txt", {"a.png": bad})
    assert not (tmp_path / "x.txt").exists()


def test_matrix_pose_files(tmp_path):
    T = random_poses(["x"])["x"]
    path = tmp_path / "frame-000000.pose.txt"
    write_matrix_pose(path, invert_pose(T))
    np.testing.assert_allclose(read_matrix_pose(path), invert_pose(T), atol=1e-15)
    # The 7-Scenes files use tabs and exponent notation.
    path.write_text(
        "  9.3817085e-001\t -2.6860735e-001\t  2.1809216e-001\t -1.4903377e+000\t\n"
        "  1.6796641e-001\t  9.0461522e-001\t  3.9159104e-001\t -4.9737796e-001\t\n"
        " -3.0248943e-001\t -3.3076438e-001\t  8.9383817e-001\t -5.4694783e-002\t\n"
        "  0.0000000e+000\t  0.0000000e+000\t  0.0000000e+000\t  1.0000000e+000\t\n"
    )
    assert read_matrix_pose(path)[0, 3] == pytest.approx(-1.4903377)


@pytest.mark.parametrize(
    "content,match",
    [
        ("1 0 0 0\n0 1 0 0\n0 0 1 0\n", "4 rows of 4"),
        ("-inf -inf -inf -inf\n" * 4, "NaN or infinite"),  # 12-Scenes marks lost tracking like this
        ("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "not a rotation"),
    ],
)
def test_bad_matrix_pose_files(tmp_path, content, match):
    path = tmp_path / "p.pose.txt"
    path.write_text(content)
    with pytest.raises(PoseFileError, match=match):
        read_matrix_pose(path)


def test_cambridge_split_file(tmp_path):
    T = random_poses(["seq1/frame00001.png"], seed=3)["seq1/frame00001.png"]
    q, _ = pose_to_qt(T)
    c = camera_center(T)
    path = tmp_path / "dataset_test.txt"
    path.write_text(
        "Visual Landmark Dataset V1\nImageFile, Camera Position [X Y Z W P Q R]\n\n"
        f"seq1/frame00001.png {c[0]} {c[1]} {c[2]} {q[0]} {q[1]} {q[2]} {q[3]}\n"
    )
    np.testing.assert_allclose(read_cambridge_split(path)["seq1/frame00001.png"], T, atol=1e-12)
    path.write_text("h\nh\nh\nseq1/frame00001.png 1 2 3 1 0 0\n")
    with pytest.raises(PoseFileError, match=r"dataset_test.txt:4: 7 columns"):
        read_cambridge_split(path)


@pytest.mark.parametrize(
    "scheme,spellings,canonical",
    [
        (
            "7scenes",
            ["seq-03/frame-000000.color.png", "seq-03-frame-000000.color.png"],
            "seq-03-frame-000000.color.png",
        ),  # noqa: E501
        ("12scenes", ["data/frame-000123.color.jpg", "frame-000123.color.jpg"], "frame-000123.color.jpg"),
        ("cambridge", ["seq3/frame00001.png", "seq3_frame00001.png", "./seq3/frame00001.png"], "seq3_frame00001.png"),
        ("exact", ["a/b.png"], "a/b.png"),
    ],
)
def test_name_schemes(scheme, spellings, canonical):
    assert {canonical_name(s, scheme) for s in spellings} == {canonical}


def test_names_outside_a_scheme_are_rejected():
    with pytest.raises(UnknownNameError, match="7scenes"):
        canonical_name("frame-000000.color.png", "7scenes")
    with pytest.raises(ValueError, match="unknown name scheme"):
        canonical_name("x", "kitti")


def test_guess_scheme():
    assert guess_name_scheme(["seq-01/frame-000001.color.png"]) == "7scenes"
    assert guess_name_scheme(["data/frame-000001.color.jpg"]) == "12scenes"
    assert guess_name_scheme(["seq2_frame00001.png"]) == "cambridge"
    assert guess_name_scheme(["r_0.png"]) == "exact"


def test_align_names_between_estimator_and_ground_truth():
    gt = ["seq-03/frame-000000.color.png", "seq-03/frame-000001.color.png", "seq-05/frame-000000.color.png"]
    ace = ["seq-03-frame-000001.color.png", "seq-03-frame-000000.color.png"]
    mapping, missing = align_names(ace, gt)
    assert mapping == {
        "seq-03-frame-000001.color.png": "seq-03/frame-000001.color.png",
        "seq-03-frame-000000.color.png": "seq-03/frame-000000.color.png",
    }
    assert missing == ["seq-05/frame-000000.color.png"]
    with pytest.raises(UnknownNameError, match="1 reference image"):
        align_names(ace, gt, allow_missing=False)
    with pytest.raises(UnknownNameError, match=r"1 image name\(s\) not found .*seq-09"):
        align_names([*ace, "seq-09-frame-000000.color.png"], gt)
    with pytest.raises(UnknownNameError, match="same image"):
        align_names(["seq-03-frame-000000.color.png", "seq-03/frame-000000.color.png"], gt)


def test_align_names_matches_exact_names_first_and_refuses_a_name_that_fits_two_images():
    gt = ["a/frame-000001.color.jpg", "b/frame-000001.color.jpg"]  # one name under the 12scenes scheme
    assert align_names(["b/frame-000001.color.jpg", "./a/frame-000001.color.jpg"], gt)[0] == {
        "b/frame-000001.color.jpg": "b/frame-000001.color.jpg",
        "./a/frame-000001.color.jpg": "a/frame-000001.color.jpg",
    }
    both = "'a/frame-000001.color.jpg' and 'b/frame-000001.color.jpg' under the 12scenes scheme"
    with pytest.raises(UnknownNameError, match=f"name 'frame-000001.color.jpg' is both reference images {both}"):
        align_names(["frame-000001.color.jpg"], gt)


def test_perturbed_poses_survive_a_file_round_trip(tmp_path):
    poses = random_poses([f"img{i}.png" for i in range(20)], seed=9)
    names = list(poses)
    P = perturb_pose(np.stack([poses[n] for n in names]), 2.0, 0.02, frame="world", rng=0)
    write_poses(tmp_path / "p.txt", dict(zip(names, P, strict=True)))
    back = read_poses(tmp_path / "p.txt")
    rot, trans = pose_errors(np.stack([back[n] for n in names]), np.stack([poses[n] for n in names]))
    np.testing.assert_allclose(rot, 2.0, atol=1e-9)
    np.testing.assert_allclose(trans, 0.02, atol=1e-12)
