"""Differential IK shared by the end-effector embodiments: targets that integrate deltas, and a
batched damped-least-squares step on MuJoCo's Jacobians.

Deltas move a per-env target pose (world frame: translation in metres, rotation vector in
radians). Integrating onto the target, not onto the measured pose, removes servo lag; the
target is held within ``max_lag`` of the measured position so a blocked arm does not wind up.
"""

from __future__ import annotations

import numpy as np

from arena_eval.geometry import norm, quat_from_rotvec, quat_mul, rotation_error


def follow(
    target_pos: np.ndarray,
    target_quat: np.ndarray,
    pos: np.ndarray,
    quat: np.ndarray,
    delta: np.ndarray,
    max_lag: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move targets ``[n, 3]``/``[n, 4]`` by ``delta`` ``[n, 6]``; return the new targets and the
    pose error ``[n, 6]`` (position, rotation vector) from the measured ``pos``/``quat``."""
    lag = target_pos + delta[:, :3] - pos
    new_pos = pos + lag * np.minimum(1.0, max_lag / np.maximum(norm(lag), 1e-9))
    new_quat = quat_mul(quat_from_rotvec(delta[:, 3:]), target_quat)
    error = np.concatenate([new_pos - pos, rotation_error(new_quat, quat)], axis=1)
    return new_pos, new_quat, error


def dls(jac: np.ndarray, error: np.ndarray, damping: float) -> np.ndarray:
    """One damped-least-squares step per env: dq = J^T (J J^T + lambda^2 I)^-1 e.

    ``jac`` is ``[n, m, k]`` (m task rows, k joints), ``error`` ``[n, m]``; returns ``[n, k]``.
    """
    jac_t = jac.transpose(0, 2, 1)
    jjt = jac @ jac_t
    rows = np.arange(jac.shape[1])
    jjt[:, rows, rows] += damping**2  # + lambda^2 I, on the diagonal only
    return (jac_t @ np.linalg.solve(jjt, error[:, :, None]))[:, :, 0]
