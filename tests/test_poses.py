import numpy as np
import pytest

from gscpr.geometry import (
    camera_center,
    invert_pose,
    make_pose,
    perturb_pose,
    pose_errors,
    pose_to_qt,
    qt_to_pose,
    qvec_to_rotmat,
)
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
        ("a 1 0 0 0 0 0 0\nb 1 0 0 0 0 0\n", "6 number\\(s\\) after the name 'b'; expected", 2),
        ("a 1 0 0 0 0 0 0\nb 1 0 0 0 x 0 0\n", "not a number", 2),
        ("a 1 0 0 0 0 0 nan\n", "NaN or infinite", 1),
        ("a 0 0 0 0 0 0 0\n", "zero length", 1),
        ("a 1 0 0 0 0 0 0\na 1 0 0 0 1 0 0\n", "duplicate image name 'a' \\(first on line 1\\)", 2),
        ("a 1 0 0 0 0 0\n", "expected a name and 7 numbers .*, 8 .* or 10", 1),
        ("a 1 0 0 0 0 0 0 1 2\n", "9 number\\(s\\) after the name 'a'", 1),
        ("a 1 0 0 0 x 0 0\n", "not a number: 'x'", 1),
        ("a,1,0,0,0,x,0,0\n", "not a number", 1),
        (",1,0,0,0,0,0,0\n", "no image name", 1),
        ("hello world\n", "0 number\\(s\\) after the name 'hello world'", 1),
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


def test_write_refuses_names_that_would_not_read_back_and_bad_poses(tmp_path):
    for name in ["a\tb.png", " a.png", "a.png ", "a  b.png", "scan 3", "#a.png", "", "a\nb.png"]:
        with pytest.raises(ValueError, match="would not read back"):
            write_poses(tmp_path / "x.txt", {"ok.png": np.eye(4), name: np.eye(4)})
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
    path.write_text("h\nh\nh\nseq1/frame00001.png\n")  # a name alone: one column, not "1 columns"
    with pytest.raises(PoseFileError, match=r"dataset_test.txt:4: 1 column, expected 8"):
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


# ----------------------------------------------------------------------------- files from the wild
Q = "0.9820641008254225 0.18407972157001495 -0.03398619964718819 0.022576341405510902"
T = "-0.027805496007204056 0.4756828248500824 0.947198212146759"
POSE = qt_to_pose([float(v) for v in Q.split()], [float(v) for v in T.split()])


def read_reporting(path, fmt="auto"):
    """``(entries, bad lines as text, warnings)`` of a pose file read with every problem reported."""
    bad, said = [], []
    entries = read_pose_file(path, fmt, on_error=lambda e: bad.append(str(e)), warn=said.append)
    return entries, bad, said


def test_a_stray_value_on_the_first_line_changes_nothing_for_the_other_lines(tmp_path):
    path = tmp_path / "coarse.txt"
    path.write_text(f"a.png {Q} {T} 5\n" + "".join(f"{n}.png {Q} {T}\n" for n in "bcd"))
    entries, bad, said = read_reporting(path)
    assert list(entries) == ["a.png", "b.png", "c.png", "d.png"] and bad == []
    for e in entries.values():
        np.testing.assert_allclose(e.pose, POSE, atol=1e-15)
    assert entries["a.png"].focal == 5.0 and entries["b.png"].focal is None
    assert said == [f"{path}: lines of several formats, each read as its count of numbers says: 3 qt; 1 pgt (line 1)"]


def test_a_bad_line_is_reported_and_the_good_lines_after_it_are_read(tmp_path):
    path = tmp_path / "coarse.txt"
    path.write_text(f"a.png {Q} {T}\nb.png {Q} {T} 5 6\nc.png {Q}\nd.png {Q} {T}\ne.png {Q} {T}\n")
    entries, bad, _ = read_reporting(path)
    assert list(entries) == ["a.png", "d.png", "e.png"]
    assert bad == [
        f"{path}:2: 9 number(s) after the name 'b.png'; expected a name and 7 numbers (qw qx qy qz tx ty tz), "
        "8 (... f) or 10 (... r_err t_err inliers)",
        f"{path}:3: 4 number(s) after the name 'c.png'; expected a name and 7 numbers (qw qx qy qz tx ty tz), "
        "8 (... f) or 10 (... r_err t_err inliers)",
    ]
    with pytest.raises(PoseFileError, match=r"coarse.txt:2: 9 number"):
        read_pose_file(path)  # without on_error the first bad line stops the read


def test_a_required_format_is_checked_on_every_line(tmp_path):
    path = tmp_path / "pgt.txt"
    path.write_text(f"a.png {Q} {T} 525\nb.png {Q} {T}\n")
    entries, bad, _ = read_reporting(path, fmt="pgt")
    assert list(entries) == ["a.png"]
    assert bad == [f"{path}:2: 7 number(s) after the name 'b.png', expected 8 (pgt format)"]


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(f"a.png {Q} {T}\r\nb.png {Q} {T}\r\n".encode("utf-8-sig"))
    entries = read_poses(path)
    assert list(entries) == ["a.png", "b.png"]
    write_poses(tmp_path / "out.txt", entries)
    assert (tmp_path / "out.txt").read_bytes().startswith(b"a.png ")


def test_utf16_with_a_byte_order_mark_as_windows_notepad_saves(tmp_path):
    path = tmp_path / "utf16.txt"
    path.write_bytes(f"é.png {Q} {T}\r\n".encode("utf-16"))
    assert list(read_poses(path)) == ["é.png"]
    path.write_bytes(f"é.png {Q} {T}\r\n".encode("utf-16-le"))  # no byte-order mark: NUL bytes everywhere
    with pytest.raises(PoseFileError, match="not a text file"):
        read_poses(path)


def test_a_line_that_is_not_utf8_is_read_as_windows_1252_and_said(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(f"caf\xe9.png {Q} {T}\n".encode("cp1252") + f"ü.png {Q} {T}\n".encode())
    entries, bad, said = read_reporting(path)
    assert list(entries) == ["café.png", "ü.png"] and bad == []  # the UTF-8 line is not harmed
    assert said == [f"{path}: line(s) 1 not UTF-8; read as Windows-1252 (Latin-1)"]
    with pytest.warns(UserWarning, match="not UTF-8"):  # said by default too
        read_poses(path)


@pytest.mark.parametrize(
    "text",
    [
        f"a b.png,{Q.replace(' ', ',')},{T.replace(' ', ',')}\n",
        f"a b.png, {Q.replace(' ', ', ')}, {T.replace(' ', ', ')}\n",
        f'"a b.png",{Q.replace(" ", ",")},{T.replace(" ", ",")}\n',
        f"name,qw,qx,qy,qz,tx,ty,tz\na b.png,{Q.replace(' ', ',')},{T.replace(' ', ',')}\n",  # a spreadsheet's header
        f"name qw qx qy qz tx ty tz\na b.png {Q} {T}\n",
        f"a b.png\t{Q.replace(' ', chr(9))}\t{T.replace(' ', chr(9))}\n",
    ],
)
def test_comma_separated_files_and_names_with_spaces(tmp_path, text):
    path = tmp_path / "poses.csv"
    path.write_text(text)
    entries, bad, said = read_reporting(path)
    assert list(entries) == ["a b.png"] and bad == [] and said == []
    np.testing.assert_allclose(entries["a b.png"].pose, POSE, atol=1e-15)


def test_a_name_with_a_comma_in_a_whitespace_file(tmp_path):
    path = tmp_path / "poses.txt"
    path.write_text(f"a,b.png {Q} {T}\n")
    assert list(read_poses(path)) == ["a,b.png"]


@pytest.mark.parametrize("fmt", ["qt", "pgt", "ace"])
def test_names_with_spaces_round_trip_in_every_format(tmp_path, fmt):
    poses = random_poses(["night shots/IMG 0001.JPG", "b.png", "0001"])
    focal = dict.fromkeys(poses, 500.0)
    extras = dict.fromkeys(poses, (0.5, 0.01, 100))
    write_poses(tmp_path / "p.txt", poses, fmt, focal, extras)
    entries = read_pose_file(tmp_path / "p.txt")
    assert list(entries) == list(poses)
    for n, T_ in poses.items():
        np.testing.assert_allclose(entries[n].pose, T_, atol=1e-15)


def test_decomposed_unicode_names_match_composed_ones(tmp_path):
    nfd, nfc = "seq1/cafe\u0301.png", "seq1/caf\u00e9.png"
    assert canonical_name(nfd, "exact") == canonical_name(nfc, "exact") == nfc
    mapping, missing = align_names([nfd], [nfc, "seq1/other.png"])
    assert mapping == {nfd: nfc} and missing == ["seq1/other.png"]
    path = tmp_path / "p.txt"
    path.write_text(f"{nfc} {Q} {T}\n{nfd} {Q} {T}\n")
    with pytest.raises(PoseFileError, match=r"p.txt:2: duplicate image name .* \(first on line 1\)"):
        read_poses(path)


def test_decomposed_names_pair_with_their_images(tmp_path):
    from gscpr.camera import Camera
    from gscpr.data.frame import Frame
    from gscpr.queries import build_queries

    cam = Camera.centered(8, 6, 10.0)
    frames = [Frame("caf\u00e9.png", tmp_path / "caf\u00e9.png", cam, np.eye(4))]  # composed on disk (Linux)
    queries, missing = build_queries(frames, {"cafe\u0301.png": POSE})  # decomposed in the file (macOS)
    assert [q.name for q in queries] == ["cafe\u0301.png"] and missing == []  # the file's spelling is kept
    assert queries[0].image_path == tmp_path / "caf\u00e9.png"


def test_matrix_and_split_files_that_are_not_text_say_so(tmp_path):
    path = tmp_path / "frame-000000.pose.txt"
    path.write_bytes(b"\xff\xd8\xff\xe0 not text")
    with pytest.raises(PoseFileError, match=r"pose.txt: not UTF-8 text \(byte 0xff at offset 0\)"):
        read_matrix_pose(path)
    with pytest.raises(PoseFileError, match=r"pose.txt: not UTF-8 text"):
        read_cambridge_split(path)


def test_a_file_of_only_bad_lines_says_so(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("a;1;0;0;0;0;0;0\nb;1;0;0;0;0;0;0\n")  # semicolons: not a separator pose files use
    bad = []
    with pytest.raises(PoseFileError, match=r"p.txt: no poses in file \(every line malformed: 2; line 1: 0 number"):
        read_pose_file(path, on_error=bad.append)
    assert [e.line for e in bad] == [1, 2] and "0 number(s) after the name 'a;1;0;0;0;0;0;0'" in str(bad[0])
    # The first bad line's reason is in the one line, for the callers that never get to report each line.
    path.write_text("# zero quaternions\nq.png 0 0 0 0 1 2 3\nr.png 0 0 0 0 1 2 3\n")
    with pytest.raises(PoseFileError) as info:
        read_pose_file(path, on_error=lambda e: None)
    assert str(info.value) == f"{path}: no poses in file (every line malformed: 2; line 2: quaternion has zero length)"


def test_a_pose_path_that_is_no_file_says_what_it_is(tmp_path):
    (tmp_path / "poses").mkdir()
    (tmp_path / "link.txt").symlink_to(tmp_path / "moved.txt")
    with pytest.raises(PoseFileError, match="poses: is a folder, not a pose file"):
        read_pose_file(tmp_path / "poses")
    with pytest.raises(PoseFileError, match=f"link.txt: broken symbolic link to {tmp_path / 'moved.txt'}"):
        read_pose_file(tmp_path / "link.txt")
    with pytest.raises(PoseFileError, match="none.txt: no such pose file"):
        read_pose_file(tmp_path / "none.txt")


def test_a_colmap_images_txt_given_as_a_pose_file_is_named_as_such(tmp_path):
    """COLMAP's images.txt holds the same world-to-camera poses, in another column order: said, not 'not a number'."""
    path = tmp_path / "images.txt"
    path.write_text("# Image list with two lines of data per image:\n1 1 0 0 0 0.1 0.2 0.3 1 night shots/IMG 1.jpg\n"
                    "12.5 40.1 -1\n")  # fmt: skip
    with pytest.raises(PoseFileError) as info:
        read_pose_file(path)
    assert str(info.value).startswith(f"{path}:2: a COLMAP images.txt line (IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID")
    assert "NAME QW QX QY QZ TX TY TZ" in str(info.value)
    path.write_text("seq 1 2 3 4 5 6 7 8 9 a.png 1 0 0 0 0 0 0\n")  # numbers in a name: a name, read as such
    assert list(read_pose_file(path)) == ["seq 1 2 3 4 5 6 7 8 9 a.png"]
