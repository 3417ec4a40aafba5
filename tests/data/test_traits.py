import pytest

from gscpr.data import FORMATS, DatasetError, format_traits, load_dataset


def test_every_format_has_traits_and_blender_is_white_and_object_centred():
    assert all(format_traits(f) is not None for f in FORMATS)
    lego = format_traits("blender")
    assert lego.background == (1.0, 1.0, 1.0) and lego.object_centred and lego.holdout_every is None
    assert [f for f in FORMATS if format_traits(f).holdout_every] == ["ngp", "llff", "colmap"]
    assert [f for f in FORMATS if format_traits(f).has_sfm_points] == ["llff", "colmap"]
    assert all(format_traits(f).background == (0.0, 0.0, 0.0) for f in FORMATS if f != "blender")


def test_unknown_format_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset format 'nerf'"):
        format_traits("nerf")
    with pytest.raises(DatasetError, match="unknown dataset kind"):
        load_dataset(tmp_path, "test", "nerf")
