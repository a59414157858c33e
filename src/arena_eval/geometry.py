"""Batched rotation helpers on numpy arrays (quaternions are w, x, y, z, as in MuJoCo)."""

from __future__ import annotations

import numpy as np


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    # Written into one output: no moveaxis/stack on the IK's hot path (same arithmetic).
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = aw * bw - ax * bx - ay * by - az * bz
    out[..., 1] = aw * bx + ax * bw + ay * bz - az * by
    out[..., 2] = aw * by - ax * bz + ay * bw + az * bx
    out[..., 3] = aw * bz + ax * by - ay * bx + az * bw
    return out


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` [n, 3] by quaternions ``q`` [n, 4]."""
    w, xyz = q[:, :1], q[:, 1:]
    t = 2 * np.cross(xyz, v)
    return v + w * t + np.cross(xyz, t)


def quat_conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def norm(v: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis, kept as an axis of 1 (np.linalg.norm's arithmetic,
    without its dispatch)."""
    return np.sqrt(np.add.reduce(v * v, axis=-1, keepdims=True))


def quat_from_rotvec(v: np.ndarray) -> np.ndarray:
    angle = norm(v)
    half = 0.5 * angle
    # sin(x/2)/x -> 1/2 as x -> 0: keep small rotations exact without dividing by zero.
    scale = np.where(angle > 1e-9, np.sin(half) / np.maximum(angle, 1e-12), 0.5)
    return np.concatenate([np.cos(half), v * scale], axis=-1)


def rotvec_from_quat(q: np.ndarray) -> np.ndarray:
    q = np.where(q[..., :1] < 0, -q, q)  # the short way round
    sin_half = norm(q[..., 1:])
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    scale = np.where(sin_half > 1e-9, angle / np.maximum(sin_half, 1e-12), 2.0)
    return q[..., 1:] * scale


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame rotation vector that turns ``current`` into ``target``."""
    return rotvec_from_quat(quat_mul(target, quat_conj(current)))


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def yaw_of(q: np.ndarray) -> np.ndarray:
    """Heading of the body's x axis in the world xy plane."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def quat_from_mat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to unit quaternions; robust for every rotation."""
    m = np.asarray(m, dtype=np.float64)
    t = np.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        axis=-1,
    )
    k = np.argmax(t, axis=-1)
    out = np.empty((*m.shape[:-2], 4))
    r = np.sqrt(np.maximum(np.take_along_axis(t, k[..., None], -1)[..., 0], 1e-12))
    s = 0.5 / r
    cases = [
        (
            0.5 * r,
            (m[..., 2, 1] - m[..., 1, 2]) * s,
            (m[..., 0, 2] - m[..., 2, 0]) * s,
            (m[..., 1, 0] - m[..., 0, 1]) * s,
        ),
        (
            (m[..., 2, 1] - m[..., 1, 2]) * s,
            0.5 * r,
            (m[..., 0, 1] + m[..., 1, 0]) * s,
            (m[..., 0, 2] + m[..., 2, 0]) * s,
        ),
        (
            (m[..., 0, 2] - m[..., 2, 0]) * s,
            (m[..., 0, 1] + m[..., 1, 0]) * s,
            0.5 * r,
            (m[..., 1, 2] + m[..., 2, 1]) * s,
        ),
        (
            (m[..., 1, 0] - m[..., 0, 1]) * s,
            (m[..., 0, 2] + m[..., 2, 0]) * s,
            (m[..., 1, 2] + m[..., 2, 1]) * s,
            0.5 * r,
        ),
    ]
    for i, case in enumerate(cases):
        sel = k == i
        out[sel] = np.stack(case, axis=-1)[sel]
    return out / np.linalg.norm(out, axis=-1, keepdims=True)
