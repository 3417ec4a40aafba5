"""What differs between dataset formats, as data: one :class:`FormatTraits` row per format.

Code that behaves differently per format reads these traits instead of testing format names, so that a new
format is one row here (and a loader) rather than a search for ``fmt == ...`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .frame import DatasetError

__all__ = ["FORMAT_TRAITS", "FormatTraits", "format_traits"]


@dataclass(frozen=True)
class FormatTraits:
    """How a dataset format's scenes look and are split.

    Attributes:
        background: RGB in [0, 1] behind the scene: what transparent pixels of its images are composited on and
            what a model of it is trained and rendered on (white for NeRF-synthetic, black for captures).
        object_centred: the cameras look at an object at the world origin from about the same distance
            (NeRF-synthetic), so that distance is the scene's scale; otherwise the scale is measured from depth.
        has_sfm_points: the format can carry an SfM point cloud the package reads (a COLMAP ``sparse/`` model),
            which training starts from instead of random points.
        holdout_every: the test split is every N-th frame (sorted by name) held out from training; ``None``
            where the format defines its own train / test split.
    """

    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    object_centred: bool = False
    has_sfm_points: bool = False
    holdout_every: int | None = None


#: The traits of each format of :func:`gscpr.data.detect_format`, in its order.
FORMAT_TRAITS: dict[str, FormatTraits] = {
    "ace": FormatTraits(),
    "cambridge": FormatTraits(),
    "7scenes": FormatTraits(),
    "12scenes": FormatTraits(),
    "blender": FormatTraits(background=(1.0, 1.0, 1.0), object_centred=True),
    "ngp": FormatTraits(holdout_every=8),
    "llff": FormatTraits(has_sfm_points=True, holdout_every=8),
    "colmap": FormatTraits(has_sfm_points=True, holdout_every=8),
}


def format_traits(fmt: str) -> FormatTraits:
    """The traits of format ``fmt`` (a name of :data:`FORMAT_TRAITS`); raises :class:`DatasetError` otherwise."""
    try:
        return FORMAT_TRAITS[fmt]
    except KeyError:
        raise DatasetError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMAT_TRAITS)}") from None
