"""The servo gains Isaac Lab's drives get: the ones the MuJoCo backend runs with.

Our embodiments declare position servos as ``set_to_position(kp, dampratio=1)``: MuJoCo turns
the damping ratio into a damping ``kv`` when it compiles, from the inertia the joint sees at
``qpos0``. The two venvs compile with different MuJoCo versions, and those disagree on that
inertia:

- MuJoCo 3.12 (the Isaac Lab venv) takes the diagonal of the mass matrix, ``M[i, i]``;
- MuJoCo 4 (the MuJoCo backend) takes the joint's effective inertia with the rest of the
  chain free to move, ``1 / (M^-1)[i, i]``, which is smaller wherever links are coupled.

So the 3.12-compiled ``kv`` is larger: 57 % on GR1's shoulder pitch (32.5 against 20.8), 36 %
on the waist yaw. Read from that model, Isaac Lab's drives were overdamped, the arms trailed
their IK targets, the bounded-lag target was clamped, and the expert's open-loop plans fell
behind (GR1 on open_microwave: 0 %; the Franka needed a 12 cm IK lead instead of 8). Newton
itself steps the same servos exactly like MuJoCo (a joint's step response agrees to 1e-3 rad
at the same time step). Here every servo declared with a damping ratio gets MuJoCo 4's ``kv``,
computed from the compiled model's mass matrix at ``qpos0``, whichever MuJoCo compiled it.
"""

from __future__ import annotations

import mujoco
import numpy as np


def servo_gains(spec: mujoco.MjSpec, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """``(kp, kv)`` of every actuator of ``model`` (compiled from ``spec``, actuators in the same
    order), with ``kv`` as MuJoCo 4 compiles a ``dampratio`` (see the module docstring).
    Actuators that are not joint position servos get ``kp = kv = 0``."""
    kp = np.zeros(model.nu)
    kv = np.zeros(model.nu)
    servo = (
        (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT)
        & (model.actuator_gaintype == mujoco.mjtGain.mjGAIN_FIXED)
        & (model.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE)
    )
    kp[servo] = model.actuator_gainprm[servo, 0]
    kv[servo] = -model.actuator_biasprm[servo, 2]
    ratios = np.array([a.biasprm[2] for a in spec.actuators])  # > 0: a damping ratio
    declared = servo & (ratios > 0)
    if not declared.any():
        return kp, kv
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    mujoco.mj_forward(model, data)
    dofs = model.jnt_dofadr[model.actuator_trnid[declared, 0]]
    rows = np.arange(len(dofs))
    unit = np.zeros((len(dofs), model.nv))
    unit[rows, dofs] = 1.0
    inverse = np.zeros_like(unit)  # rows of M^-1 at the servos' dofs
    mujoco.mj_solveM(model, data, inverse, unit)
    gear = model.actuator_gear[declared, 0]
    inertia = 1.0 / (gear**2 * inverse[rows, dofs])
    kv[declared] = ratios[declared] * 2.0 * np.sqrt(kp[declared] * inertia)
    return kp, kv
