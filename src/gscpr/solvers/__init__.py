"""Pose solvers behind one registry: ``get_solver(name).solve(...) -> Estimate | None`` (see :mod:`.base` for
the calling shape of each kind).

===============  ========  =========================================================  ======================
name             kind      what                                                       file
===============  ========  =========================================================  ======================
``poselib``      absolute  PoseLib LO-RANSAC P3P + bundle adjustment (default)        ``pnp_poselib.py``
``pycolmap``     absolute  COLMAP LO-RANSAC + refinement                              ``pnp_pycolmap.py``
``opencv-epnp``  absolute  OpenCV EPnP-RANSAC, the original's (alias ``paper``)       ``pnp_opencv.py``
``gpu-ransac``   absolute  P3P hypotheses in batches on a torch device (GPU), LO and  ``pnp_torch.py``
                           refinement by PoseLib: for low inlier ratios
``essential``    relative  five-point essential matrix + cheirality (GS-CPR_rel with  ``relative_essential.py``
                           any matcher)
``mast3r-pair``  relative  MASt3R's pairwise pointmaps, as DUSt3R's PairViewer        ``relative_mast3r.py``
                           (GS-CPR_rel as published; needs the mast3r matcher)
===============  ========  =========================================================  ======================

Adding a solver: one file with a :class:`AbsolutePoseSolver` or :class:`RelativePoseSolver` subclass and one
line in :data:`SOLVERS` (or :func:`register_solver` from outside the package).
"""

from __future__ import annotations

import importlib

from .base import AbsolutePoseSolver, Estimate, PoseSolver, RelativePoseSolver, SolverOptions

__all__ = [
    "ALIASES",
    "SOLVERS",
    "AbsolutePoseSolver",
    "Estimate",
    "PoseSolver",
    "RelativePoseSolver",
    "SolverOptions",
    "canonical_solver_name",
    "get_solver",
    "register_solver",
    "solver_names",
]

#: name -> ``"module:Class"`` (imported when first used, so that a backend is needed only when chosen) or a class.
SOLVERS: dict[str, str | type[PoseSolver]] = {
    "poselib": "gscpr.solvers.pnp_poselib:PoseLibPnP",
    "pycolmap": "gscpr.solvers.pnp_pycolmap:PycolmapPnP",
    "opencv-epnp": "gscpr.solvers.pnp_opencv:OpenCVEPnP",
    "gpu-ransac": "gscpr.solvers.pnp_torch:TorchRansacPnP",
    "essential": "gscpr.solvers.relative_essential:EssentialMatrixSolver",
    "mast3r-pair": "gscpr.solvers.relative_mast3r:Mast3rPairSolver",
}
#: Other names accepted on the command line and in configs.
ALIASES: dict[str, str] = {"paper": "opencv-epnp"}  # the name before the registry


def canonical_solver_name(name: str) -> str:
    """``name`` with aliases resolved; raises ``ValueError`` naming the known solvers if it is unknown."""
    name = ALIASES.get(name, name)
    if name not in SOLVERS:
        known = ", ".join([*SOLVERS, *ALIASES])
        raise ValueError(f"unknown pose solver {name!r}; expected one of {known}")
    return name


def _solver_class(name: str) -> type[PoseSolver]:
    target = SOLVERS[canonical_solver_name(name)]
    if isinstance(target, str):
        module, _, cls = target.partition(":")
        target = getattr(importlib.import_module(module), cls)
    return target


def get_solver(name: str, kind: str | None = None) -> PoseSolver:
    """A solver by name (or alias); with ``kind`` (``"absolute"`` / ``"relative"``) it must be of that kind."""
    solver = _solver_class(name)()
    if kind is not None and solver.kind != kind:
        raise ValueError(f"{name!r} is a {solver.kind} pose solver; expected a {kind} one: {solver_names(kind)}")
    return solver


def solver_names(kind: str | None = None, aliases: bool = True) -> list[str]:
    """Registered names (of one ``kind``), with their aliases: the command line's choices."""
    names = [n for n in SOLVERS if kind is None or _solver_class(n).kind == kind]
    return names + ([a for a, n in ALIASES.items() if n in names] if aliases else [])


def register_solver(name: str, solver: str | type[PoseSolver]) -> None:
    """Add a solver (a :class:`PoseSolver` subclass or ``"module:Class"``) under ``name``."""
    SOLVERS[name] = solver
