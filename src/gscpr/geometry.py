"""Poses, rotations and pose errors: the project's conventions, in one place.

Conventions
-----------
* A *pose* is a world-to-camera (w2c) rigid transform, a ``float64`` array of shape ``[..., 4, 4]``,
  mapping world points to OpenCV camera coordinates (x right, y down, z forward), in metres (or the
  scene's units). Every public API of the package takes and returns poses in this form; datasets
  convert on read.
* Quaternions are ``[..., 4]`` arrays ``(qw, qx, qy, qz)``, w first (COLMAP, ACE). Files are written
  with ``qw >= 0``.
* Pose error: rotation error is the angle of ``R_est @ R_gt.T`` in degrees; translation error is the
  distance between the two camera centres. Rotations are projected onto SO(3) before measuring, so
  slightly non-orthonormal estimates (absolute pose regressors, float32 round trips) are accepted.
* OpenGL / Blender / NeRF / instant-ngp cameras look down -z with y up; their camera-to-world
  matrices become OpenCV by right-multiplying with ``diag(1, -1, -1, 1)``.
* A perturbation names the frame its axes are fixed in (:func:`perturb_pose`: ``camera`` or ``world``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "OPENGL_TO_OPENCV",
    "axis_angle_to_rotmat",
    "c2w_to_w2c",
    "camera_center",
    "check_pose",
    "check_rotation",
    "invert_pose",
    "make_pose",
    "opencv_w2c_to_opengl_c2w",
    "opengl_c2w_to_opencv_w2c",
    "perturb_pose",
    "pose_errors",
    "pose_to_qt",
    "project_to_so3",
    "qt_to_pose",
    "qvec_to_rotmat",
    "rotation_angle_deg",
    "rotmat_to_qvec",
]

#: Right-multiply an OpenGL camera-to-world matrix with this to get an OpenCV one (and back).
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])

# Tolerance on ||R R^T - I|| (Frobenius) for a matrix to count as a rotation. Poses stored as
# float32 text are orthonormal to ~1e-6; regressed rotations to ~1e-3.
ROTATION_TOL = 1e-2


def qvec_to_rotmat(qvec: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` from quaternions ``[..., 4]`` ``(qw, qx, qy, qz)``.

    The quaternion is normalised first. Raises ``ValueError`` for a zero-length or non-finite one.
    """
    q = np.asarray(qvec, dtype=np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"a quaternion has 4 components (qw, qx, qy, qz), got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError(f"quaternion is not finite: {q}")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-8):
        raise ValueError(f"quaternion has zero length: {q}")
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    R = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )  # fmt: skip
    return R.reshape(q.shape[:-1] + (3, 3))


def rotmat_to_qvec(R: np.ndarray) -> np.ndarray:
    """Quaternions ``[..., 4]`` ``(qw, qx, qy, qz)`` with ``qw >= 0`` from rotations ``[..., 3, 3]``.

    The input is projected onto SO(3) first; the conversion is Shepperd's method, stable for all angles.
    """
    R = project_to_so3(R)
    batch = R.shape[:-2]
    R = R.reshape(-1, 3, 3)
    tr = np.trace(R, axis1=1, axis2=2)
    diag = np.diagonal(R, axis1=1, axis2=2)
    # Pick, per matrix, the largest of 4|qw|^2, 4|qx|^2, 4|qy|^2, 4|qz|^2 to divide by.
    choice = np.argmax(np.concatenate([tr[:, None], diag], axis=1), axis=1)
    q = np.empty((R.shape[0], 4))
    for i, Ri in enumerate(R):
        c = choice[i]
        if c == 0:
            s = 2.0 * np.sqrt(1.0 + tr[i])
            q[i] = [s / 4, (Ri[2, 1] - Ri[1, 2]) / s, (Ri[0, 2] - Ri[2, 0]) / s, (Ri[1, 0] - Ri[0, 1]) / s]
        else:
            a = c - 1
            b, d = (a + 1) % 3, (a + 2) % 3
            s = 2.0 * np.sqrt(1.0 + Ri[a, a] - Ri[b, b] - Ri[d, d])
            qi = np.empty(4)
            qi[0] = (Ri[d, b] - Ri[b, d]) / s
            qi[1 + a] = s / 4
            qi[1 + b] = (Ri[a, b] + Ri[b, a]) / s
            qi[1 + d] = (Ri[a, d] + Ri[d, a]) / s
            q[i] = qi
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return q.reshape(batch + (4,))


def project_to_so3(R: np.ndarray) -> np.ndarray:
    """Nearest rotation matrices ``[..., 3, 3]`` (in Frobenius norm) to ``R``, via SVD with det = +1."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"expected [..., 3, 3] matrices, got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("rotation matrix is not finite")
    U, _, Vt = np.linalg.svd(R)
    det = np.linalg.det(U @ Vt)
    D = np.ones(R.shape[:-2] + (3,))
    D[..., 2] = np.sign(det)
    return (U * D[..., None, :]) @ Vt


def check_rotation(R: np.ndarray, tol: float = ROTATION_TOL, what: str = "rotation") -> None:
    """Raise ``ValueError`` unless every ``R[..., 3, 3]`` is finite, near-orthonormal and proper."""
    R = np.asarray(R, dtype=np.float64)
    if not np.all(np.isfinite(R)):
        raise ValueError(f"{what} is not finite (NaN or inf)")
    err = np.linalg.norm(R @ np.swapaxes(R, -1, -2) - np.eye(3), axis=(-2, -1))
    if np.any(err > tol):
        raise ValueError(f"{what} is not a rotation matrix (||R R^T - I|| = {np.max(err):.3g} > {tol:g})")
    if np.any(np.linalg.det(R) < 0):
        raise ValueError(f"{what} is a reflection (det < 0), not a rotation")


def check_pose(T: np.ndarray, tol: float = ROTATION_TOL, what: str = "pose") -> np.ndarray:
    """Validate a rigid transform ``[..., 4, 4]`` and return it as float64; raise ``ValueError`` if not."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"{what}: expected a 4x4 matrix, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError(f"{what} is not finite (NaN or inf)")
    if not np.allclose(T[..., 3, :], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise ValueError(f"{what}: last row must be [0 0 0 1], got {T[..., 3, :]}")
    check_rotation(T[..., :3, :3], tol, what=f"{what} rotation")
    return T


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Stack rotations ``[..., 3, 3]`` and translations ``[..., 3]`` into ``[..., 4, 4]`` transforms."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    T = np.zeros(np.broadcast_shapes(R.shape[:-2], t.shape[:-1]) + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def qt_to_pose(qvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """w2c pose ``[..., 4, 4]`` from a quaternion ``(qw, qx, qy, qz)`` and a translation (COLMAP style)."""
    tvec = np.asarray(tvec, dtype=np.float64)
    if not np.all(np.isfinite(tvec)):
        raise ValueError(f"translation is not finite: {tvec}")
    return make_pose(qvec_to_rotmat(qvec), tvec)


def pose_to_qt(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quaternion ``[..., 4]`` (``qw >= 0``) and translation ``[..., 3]`` of poses ``[..., 4, 4]``."""
    T = np.asarray(T, dtype=np.float64)
    return rotmat_to_qvec(T[..., :3, :3]), T[..., :3, 3].copy()


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``[..., 4, 4]`` (w2c <-> c2w), using ``R^T`` rather than a general inverse."""
    T = np.asarray(T, dtype=np.float64)
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    return make_pose(Rt, -(Rt @ T[..., :3, 3:4])[..., 0])


def camera_center(T_w2c: np.ndarray) -> np.ndarray:
    """Camera centres ``[..., 3]`` in world coordinates: ``-R^T t``."""
    T = np.asarray(T_w2c, dtype=np.float64)
    return _center(T[..., :3, :3], T[..., :3, 3:4])


def _center(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``-R^T t`` for w2c rotations ``[..., 3, 3]`` and translation columns ``[..., 3, 1]``: centres ``[..., 3]``."""
    return -(np.swapaxes(R, -1, -2) @ t)[..., 0]


def c2w_to_w2c(c2w: np.ndarray, what: str = "camera-to-world matrix") -> np.ndarray:
    """w2c pose ``[..., 4, 4]`` from an OpenCV camera-to-world ``[..., 4, 4]`` (or ``[..., 3, 4]``) matrix.

    Raises ``ValueError`` unless the rotation is near-orthonormal; it is then projected onto SO(3), as
    stored matrices carry float noise (and tools such as instant-ngp's ``colmap2nerf.py`` rescale them).
    """
    M = np.asarray(c2w, dtype=np.float64)
    if M.shape[-2:] not in ((3, 4), (4, 4)):
        raise ValueError(f"{what}: expected a 4x4 or 3x4 matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{what} is not finite (NaN or inf)")
    check_rotation(M[..., :3, :3], what=f"{what} rotation")
    return invert_pose(make_pose(project_to_so3(M[..., :3, :3]), M[..., :3, 3]))


def opengl_c2w_to_opencv_w2c(c2w_gl: np.ndarray) -> np.ndarray:
    """OpenGL/Blender/NeRF camera-to-world ``[..., 4, 4]`` (or ``[..., 3, 4]``) to an OpenCV w2c pose."""
    M = np.asarray(c2w_gl, dtype=np.float64)
    if M.shape[-2:] not in ((3, 4), (4, 4)):
        raise ValueError(f"expected a 4x4 or 3x4 camera-to-world matrix, got shape {M.shape}")
    return c2w_to_w2c(M[..., :3, :4] @ OPENGL_TO_OPENCV, what="OpenGL camera-to-world matrix")


def opencv_w2c_to_opengl_c2w(T_w2c: np.ndarray) -> np.ndarray:
    """Inverse of :func:`opengl_c2w_to_opencv_w2c`."""
    return invert_pose(T_w2c) @ OPENGL_TO_OPENCV


def rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """Rotation angle in degrees of rotation matrices ``[..., 3, 3]``, accurate near 0 and 180 degrees."""
    R = np.asarray(R, dtype=np.float64)
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    axis = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.linalg.norm(axis, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def pose_errors(T_est: np.ndarray, T_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation error (degrees) and camera-centre distance between w2c poses ``[..., 4, 4]``.

    Both rotations are projected onto SO(3) first. Returns two arrays of shape ``[...]``.
    """
    T_est = np.asarray(T_est, dtype=np.float64)
    T_gt = np.asarray(T_gt, dtype=np.float64)
    R_est = project_to_so3(T_est[..., :3, :3])
    R_gt = project_to_so3(T_gt[..., :3, :3])
    rot = rotation_angle_deg(R_est @ np.swapaxes(R_gt, -1, -2))
    c_est, c_gt = _center(R_est, T_est[..., :3, 3:4]), _center(R_gt, T_gt[..., :3, 3:4])  # of the projected R
    return rot, np.linalg.norm(c_est - c_gt, axis=-1)


def axis_angle_to_rotmat(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: rotation matrices ``[..., 3, 3]`` from axis-angle vectors ``[..., 3]`` (radians)."""
    v = np.asarray(axis_angle, dtype=np.float64)
    theta = np.linalg.norm(v, axis=-1, keepdims=True)
    k = np.divide(v, theta, out=np.zeros_like(v), where=theta > 0)
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2] = -k[..., 2], k[..., 1]
    K[..., 1, 0], K[..., 1, 2] = k[..., 2], -k[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -k[..., 1], k[..., 0]
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def _random_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _unit_axes(axes, n: int, batch: tuple[int, ...], what: str) -> np.ndarray:
    """Given axes ``[3]`` or ``[..., 3]`` broadcast to ``[n, 3]``; used as they are (unit length required)."""
    a = np.asarray(axes, dtype=np.float64)
    if a.shape[-1:] != (3,):
        raise ValueError(f"{what}: expected [3] or [..., 3] vectors, got shape {a.shape}")
    a = np.broadcast_to(a, batch + (3,)).reshape(n, 3)
    if not np.all(np.isfinite(a)) or np.any(np.abs(np.linalg.norm(a, axis=1) - 1.0) > 1e-6):
        raise ValueError(f"{what}: axes must be finite unit vectors")
    return a


def perturb_pose(
    T_w2c: np.ndarray,
    rot_deg: float | np.ndarray,
    trans: float | np.ndarray,
    *,
    frame: Literal["camera", "world"],
    rng: np.random.Generator | int | None = None,
    rot_axis: np.ndarray | None = None,
    trans_axis: np.ndarray | None = None,
) -> np.ndarray:
    """Perturb w2c poses ``[..., 4, 4]`` so that their errors are exactly ``|rot_deg|`` and ``|trans|``.

    The camera turns about its own centre by ``rot_deg`` degrees (right-handed) around ``rot_axis``, and its
    centre moves by ``trans`` (scene units) along ``trans_axis``. ``frame`` says in which frame both axes are
    fixed:

    * ``"camera"``: the camera's own (OpenCV) frame before the perturbation: ``R_c2w' = R_c2w Rot(axis, angle)``,
      ``c' = c + R_c2w (trans axis)``. An axis ``(0, 0, 1)`` rolls the camera about its viewing direction
      whatever its pose; GSFeatLoc's ``T_c2w @ T_t @ T_R``. ``gscpr bench`` perturbs this way.
    * ``"world"``: the world frame: ``R_c2w' = Rot(axis, angle) R_c2w``, ``c' = c + trans axis``. An axis
      ``(0, 0, 1)`` turns every camera about the world's z direction (through its own centre).

    With a random axis (the default) both give the same distribution of perturbations; they differ for a given
    axis. ``rot_deg`` and ``trans`` are signed (a negative one turns / moves the other way) and broadcast over the
    batch; ``|rot_deg| <= 180`` for the rotation error to be ``|rot_deg|``. ``rot_axis`` and ``trans_axis`` are
    unit vectors ``[3]`` or ``[..., 3]`` (broadcast over the batch); a missing one is drawn uniformly on the
    sphere from ``rng`` (a ``numpy.random.Generator`` or a seed; the same seed gives the same poses), rotation
    axes before translation directions. Raises ``ValueError`` for an invalid pose, axis or frame.
    """
    if frame not in ("camera", "world"):
        raise ValueError(f"frame must be 'camera' or 'world', got {frame!r}")
    T = check_pose(T_w2c, what="pose to perturb")
    batch = T.shape[:-2]
    n = int(np.prod(batch, dtype=int))
    angles = np.broadcast_to(np.radians(np.asarray(rot_deg, dtype=np.float64)), batch).reshape(n)
    lengths = np.broadcast_to(np.asarray(trans, dtype=np.float64), batch).reshape(n)
    if rot_axis is None or trans_axis is None:
        rng = np.random.default_rng(rng)
    # Drawn axes are negated so that seeded world-frame draws keep the poses they gave before the frame was named
    # (R_w2c Rot(u, angle) for the drawn u); the draw is symmetric, so the distribution is the same.
    axes = -_random_unit_vectors(rng, n) if rot_axis is None else _unit_axes(rot_axis, n, batch, "rot_axis")
    dirs = _random_unit_vectors(rng, n) if trans_axis is None else _unit_axes(trans_axis, n, batch, "trans_axis")
    T = T.reshape(n, 4, 4)
    if frame == "world":
        R_new = T[:, :3, :3] @ axis_angle_to_rotmat(-(axes * angles[:, None]))  # R_w2c Rot(axis, angle)^T
        c_new = camera_center(T) + dirs * lengths[:, None]
        out = make_pose(R_new, -(R_new @ c_new[:, :, None])[..., 0])
    else:  # one pose at a time: the same arithmetic, bit for bit, as the bench noise the published results used
        out = np.empty((n, 4, 4))
        for i, Ti in enumerate(T):
            R_c2w = Ti[:3, :3].T
            R_new = R_c2w @ axis_angle_to_rotmat(angles[i] * axes[i])
            c_new = camera_center(Ti) + R_c2w @ (lengths[i] * dirs[i])
            out[i] = make_pose(R_new.T, -R_new.T @ c_new)
    return out.reshape(batch + (4, 4))
