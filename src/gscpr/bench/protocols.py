"""The perturbation protocols of ``gscpr bench``: how the coarse poses of the test views are drawn.

A :class:`Protocol` draws, per test view, a signed rotation angle (degrees) about a unit axis and a signed
translation along a unit direction; :func:`perturb_frames` applies them in the camera frame
(:func:`gscpr.geometry.perturb_pose` with ``frame="camera"``), so that a coarse pose's errors are exactly the drawn
magnitudes. Translations are in NeRF-synthetic units scaled by ``D / 4.0311`` or a share of ``D`` (the scene's
scale, :mod:`gscpr.bench.scene_scale`). Draws are seeded: a view gets the same noise whichever other views a
folder holds. The package docstring (:mod:`gscpr.bench`) tabulates the protocols and their sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..geometry import perturb_pose

__all__ = ["HALF_NORMAL_MEDIAN", "NERF_SYNTHETIC_DISTANCE", "PROTOCOLS", "Protocol", "frame_index", "perturb_frames"]

NERF_SYNTHETIC_DISTANCE = 4.0311  # camera distance to the object of NeRF-synthetic's test views
HALF_NORMAL_MEDIAN = 0.6744897501960817  # median of |N(0, 1)|


@dataclass(frozen=True)
class Protocol:
    """A perturbation: how rotation / translation magnitudes and their axes are drawn.

    ``rotation`` and ``translation`` are ``(law, a, b)``: ``normal`` (signed N(0, a)), ``uniform`` (U(a, b)) or
    ``half-normal`` (|N(0, s)| with median a). ``translation_unit`` is ``nerf`` (NeRF-synthetic units, scaled by
    D / 4.0311) or ``distance`` (a fraction of D). ``axes``: ``positive-octant`` (GSFeatLoc: a uniform draw in
    [0, 1)^3, normalised) or ``sphere``. ``sequential``: one generator for the whole test split in its order
    (GSFeatLoc) rather than one per frame.
    """

    name: str
    rotation: tuple[str, float, float]
    translation: tuple[str, float, float]
    translation_unit: str = "nerf"
    axes: str = "sphere"
    sequential: bool = False
    seed: int = 0
    source: str = ""

    def _magnitude(self, law: tuple[str, float, float], rng: np.random.Generator) -> float:
        kind, a, b = law
        if kind == "normal":
            return float(rng.normal(0.0, a))
        if kind == "uniform":
            return float(rng.uniform(a, b))
        if kind == "half-normal":
            return float(abs(rng.normal(0.0, a / HALF_NORMAL_MEDIAN)))
        raise ValueError(f"unknown magnitude law {kind!r}")

    def _axis(self, rng: np.random.Generator) -> np.ndarray:
        v = rng.random(3) if self.axes == "positive-octant" else rng.normal(size=3)
        return v / np.linalg.norm(v)

    def draw(self, rng: np.random.Generator) -> tuple[float, np.ndarray, float, np.ndarray]:
        """``(angle_deg, rotation_axis, translation, translation_axis)`` in the drawing order of the protocol;
        angle and translation are signed (a negative one turns / moves the other way)."""
        if self.sequential:  # GSFeatLoc's order: both axes first, then both magnitudes
            axis_r, axis_t = self._axis(rng), self._axis(rng)
            return self._magnitude(self.rotation, rng), axis_r, self._magnitude(self.translation, rng), axis_t
        angle, axis_r = self._magnitude(self.rotation, rng), self._axis(rng)
        return angle, axis_r, self._magnitude(self.translation, rng), self._axis(rng)

    def translation_scale(self, distance: float) -> float:
        return distance / NERF_SYNTHETIC_DISTANCE if self.translation_unit == "nerf" else distance


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("gsfeatloc", ("normal", 12.10, 0.0), ("normal", 0.87, 0.0), axes="positive-octant",
                 sequential=True, source="GSFeatLoc scripts/run_gsfeatloc.sh (Blender: --axis_mode random "
                 "--magnitude_mode gaussian, 12.10 deg / 0.87), gsfeatloc/utils.py perturb_SE3"),
        Protocol("icomma-small", ("uniform", 0.0, 20.0), ("uniform", 0.0, 0.1),
                 source="issue 6: rotation <= 20 deg, translation <= 0.1 units"),
        Protocol("icomma-medium", ("uniform", 20.0, 40.0), ("uniform", 0.1, 0.2),
                 source="issue 6: rotation 20-40 deg, translation 0.1-0.2 units"),
        Protocol("coarse-ace", ("half-normal", 0.3, 0.0), ("half-normal", 0.005, 0.0), translation_unit="distance",
                 source="ACE on 7-Scenes: median ~1 cm / 0.3 deg at ~2 m"),
        Protocol("coarse-dfnet", ("half-normal", 2.0, 0.0), ("half-normal", 0.03, 0.0), translation_unit="distance",
                 source="DFNet on 7-Scenes: median ~6 cm / 2 deg at ~2 m"),
    )
}  # fmt: skip


def frame_index(name: str, position: int) -> int:
    """The frame's index in its dataset's full test list: the number of a Blender ``r_<i>`` view (folders that
    keep only some of the 200 views still get each view's own noise), else its position."""
    m = re.search(r"(?:^|/)r_(\d+)(?:\.\w+)?$", name)
    return int(m.group(1)) if m else position


def perturb_frames(
    protocol: Protocol, gt_w2c: np.ndarray, names: list[str], distance: float, seed: int | None = None
) -> tuple[np.ndarray, list[dict]]:
    """Coarse w2c poses ``[N, 4, 4]`` for ground-truth poses ``[N, 4, 4]`` and the drawn noise per frame.

    The camera rotates about its own centre by the drawn angle around an axis fixed in the camera frame and
    its centre moves by the drawn translation along an axis of the camera frame (GSFeatLoc's ``T_c2w @ T_t @
    T_R``: :func:`~gscpr.geometry.perturb_pose` with ``frame="camera"``), so
    :func:`~gscpr.geometry.pose_errors` gives back exactly ``|angle|`` and ``|translation|``. ``names`` (one per
    pose) give each frame its index (:func:`frame_index`), ``distance`` is the scene's scale ``D``, ``seed``
    defaults to the protocol's. The noise of a frame is ``{"rot_deg": signed degrees, "rot_axis": unit [3],
    "trans": signed scene units, "trans_axis": unit [3]}``, axes in the camera frame.
    """
    seed = protocol.seed if seed is None else seed
    idx = [frame_index(n, i) for i, n in enumerate(names)]
    if protocol.sequential:
        rng = np.random.default_rng(seed)
        drawn = [protocol.draw(rng) for _ in range(max(idx, default=-1) + 1)]
        draws = [drawn[i] for i in idx]
    else:
        draws = [protocol.draw(np.random.default_rng([seed, i])) for i in idx]
    scale = protocol.translation_scale(distance)
    angles = np.array([d[0] for d in draws])
    shifts = np.array([d[2] * scale for d in draws])
    axes_r, axes_t = (np.array([d[k] for d in draws]).reshape(-1, 3) for k in (1, 3))
    coarse = perturb_pose(gt_w2c, angles, shifts, frame="camera", rot_axis=axes_r, trans_axis=axes_t)
    noise = [{"rot_deg": angle, "rot_axis": axis_r.tolist(), "trans": trans * scale, "trans_axis": axis_t.tolist()}
             for angle, axis_r, trans, axis_t in draws]  # fmt: skip
    return coarse, noise
