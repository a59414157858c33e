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


class PointJacobian:
    """Jacobians of a point on ``body`` over the chosen ``dofs`` in every simulation of a
    persistent batch, from its bound ``cdof`` and ``subtree_com``.

    The arithmetic is MuJoCo's ``mj_jac`` (the point's offset from its tree's subtree centre of
    mass; per dof, the motion's linear part plus its angular part crossed with the offset; zero
    for a dof outside the body's chain), so the result equals ``Batch.jac``'s to the bit (a
    test checks it). ``Batch.jac`` runs the kinematics again for each simulation and leaves
    its next step to start afresh instead of continuing from the stages the last step computed
    (+60 µs of physics per 16-env step, docs/performance.md); the bound fields are already
    current, because the env steps to ``mjSTAGE_VEL`` and resets with ``forward``.
    """

    def __init__(self, model, batch, body: int, dofs: np.ndarray) -> None:
        chain, b = set(), body
        while b > 0:
            chain.add(b)
            b = int(model.body_parentid[b])
        dofs = np.asarray(dofs)
        self.outside = ~np.isin(model.dof_bodyid[dofs], list(chain))
        self.cdof = batch.bind("cdof")  # (nsim, nv, 6): angular, then linear motion per dof
        self.com = batch.bind("subtree_com")
        self.root = int(model.body_rootid[body])
        self.dofs = dofs

    def __call__(self, point: np.ndarray, ids: np.ndarray | slice) -> np.ndarray:
        """``[n, 6, k]``: the positional rows, then the rotational ones, for ``point`` ``[n, 3]``
        in the simulations ``ids`` (a slice for all)."""
        cdof = self.cdof[ids][:, self.dofs]
        ang, lin = cdof[..., :3], cdof[..., 3:]
        off = point - self.com[ids, self.root]
        ox, oy, oz = off[:, 0:1], off[:, 1:2], off[:, 2:3]
        ax, ay, az = ang[..., 0], ang[..., 1], ang[..., 2]
        # Dof-major in memory, as the columns gathered from Batch.jac's output were: the batched
        # products in dls() round according to the layout, so this keeps them bit-identical.
        jac = np.empty((len(self.dofs), len(off), 6)).transpose(1, 2, 0)
        jac[:, 0] = lin[..., 0] + (ay * oz - az * oy)
        jac[:, 1] = lin[..., 1] + (az * ox - ax * oz)
        jac[:, 2] = lin[..., 2] + (ax * oy - ay * ox)
        jac[:, 3:] = ang.transpose(0, 2, 1)
        if self.outside.any():
            jac[:, :, self.outside] = 0.0
        return jac


class GatheredJacobian:
    """The same ``[n, 6, k]`` Jacobian from the batch's own ``jac``: for a state whose
    simulations are not a ``mujoco.batch.Batch`` (Isaac Lab's mirror of them answers ``jac``
    from the articulation's Jacobians)."""

    def __init__(self, batch, body: int, dofs: np.ndarray) -> None:
        self.batch, self.body, self.dofs = batch, body, np.asarray(dofs)

    def __call__(self, point: np.ndarray, ids: np.ndarray | slice) -> np.ndarray:
        jacp, jacr = self.batch.jac(self.body, point, None if isinstance(ids, slice) else ids)
        return np.concatenate([jacp[:, :, self.dofs], jacr[:, :, self.dofs]], axis=1)


def point_jacobian(model, batch, body: int, dofs: np.ndarray) -> PointJacobian | GatheredJacobian:
    """The Jacobian of a point on ``body`` over ``dofs``: from bound fields on a MuJoCo batch
    (one that can ``bind``), else from the batch's own ``jac``. Not an ``isinstance`` test: the
    Isaac Lab venv's MuJoCo has no ``mujoco.batch`` to import."""
    if hasattr(batch, "bind"):
        return PointJacobian(model, batch, body, dofs)
    return GatheredJacobian(batch, body, dofs)
