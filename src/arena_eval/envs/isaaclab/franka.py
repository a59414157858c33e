"""The Franka on Isaac Lab: the same action layout, bounds and meaning as on MuJoCo.

``franka_joint_pos`` sets the arm's joint position targets (clipped to the joint ranges);
``franka_ik`` moves a per-env target pose by the action's delta (world frame, rotation vector;
the same integration as on MuJoCo, ``ik.follow``) and Isaac Lab's batched
``DifferentialIKController`` (damped least squares on the articulation's Jacobian) turns it
into joint targets. The gripper command in [-1, 1] opens both fingers 0 to 4 cm. The joints
are driven by Isaac Lab implicit actuators with the MuJoCo servos' stiffness.
"""

from __future__ import annotations

import numpy as np
import torch

from arena_eval.envs.isaaclab.state import _np, wxyz, xyzw
from arena_eval.envs.mujoco.embodiments import ik
from arena_eval.envs.mujoco.embodiments.franka import (
    ARM_JOINTS,
    FINGER_OPEN,
    HOME,
    PREFIX,
    Franka,
)

JOINTS = [PREFIX + j for j in ARM_JOINTS]
FINGERS = [PREFIX + "gripper_finger_joint1", PREFIX + "gripper_finger_joint2"]
EE_BODY = PREFIX + "gripper_eef"
FINGER_KP = 1000.0  # robosuite's gripper servos
DAMPING_RATIO = 0.08  # damping = ratio x stiffness, where MuJoCo compiled none (the fingers)


def servo_damping(model, kv) -> dict[str, float]:
    """The damping MuJoCo compiles for each arm servo (``dampratio=1``), ``kv`` from
    :func:`drives.servo_gains` (MuJoCo 4's, whichever MuJoCo compiled ``model``), so Isaac
    Lab's drives track as MuJoCo's do. A guess (0.08 x stiffness) overdamped the wrist twice
    over; MuJoCo 3.12's own ``kv`` up to 4x (see drives.py)."""
    out = {}
    for i in range(model.nu):
        joint = model.joint(int(model.actuator_trnid[i, 0])).name
        if joint in JOINTS:
            out[joint] = float(kv[i])
    return out


def actuators(franka: Franka, damping: dict[str, float] | None = None) -> dict:
    from isaaclab.actuators import ImplicitActuatorCfg

    kp = dict(zip(JOINTS, franka.kp, strict=True))
    damping = {j: (damping or {}).get(j) or DAMPING_RATIO * k for j, k in kp.items()}
    return {
        "arm": ImplicitActuatorCfg(joint_names_expr=JOINTS, stiffness=kp, damping=damping),
        "fingers": ImplicitActuatorCfg(
            joint_names_expr=FINGERS,
            stiffness=FINGER_KP,
            damping=DAMPING_RATIO * FINGER_KP,
            effort_limit_sim=20.0,
        ),
    }


def home_joint_pos() -> dict[str, float]:
    return {
        **dict(zip(JOINTS, map(float, HOME), strict=True)),
        FINGERS[0]: FINGER_OPEN,
        FINGERS[1]: -FINGER_OPEN,
    }


class IsaacFranka:
    """Binds a :class:`Franka` to an Isaac Lab articulation of ``num_envs`` robots."""

    def __init__(self, franka: Franka, robot, origins: np.ndarray, device: str) -> None:
        from isaaclab.controllers import DifferentialIKController, DifferentialIKControllerCfg

        self.franka = franka
        self.robot = robot
        self.device = device
        self.origins = origins
        names = list(robot.joint_names)
        self.arm = [names.index(j) for j in JOINTS]
        self.fingers = [names.index(j) for j in FINGERS]
        self.joints = torch.tensor(self.arm + self.fingers, device=device)
        self.ee = list(robot.body_names).index(EE_BODY)
        # Fixed base: the Jacobian has no row for the root body.
        self.jac_row = self.ee - 1 if robot.is_fixed_base else self.ee
        limits = _np(robot.data.joint_pos_limits)[0]
        self.q_low, self.q_high = limits[self.arm, 0], limits[self.arm, 1]
        self.home = np.array([*HOME, FINGER_OPEN, -FINGER_OPEN])
        n = len(origins)
        self.target_pos = np.zeros((n, 3))
        self.target_quat = np.tile([1.0, 0, 0, 0], (n, 1))
        self.low = np.array(franka.layout.low[:6])
        self.high = np.array(franka.layout.high[:6])
        self.ik = DifferentialIKController(
            DifferentialIKControllerCfg(
                command_type="pose",
                use_relative_mode=False,
                ik_method="dls",
                ik_params={"lambda_val": franka.ik_damping},
            ),
            num_envs=n,
            device=device,
        )

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=self.device)

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Grip-point position (env-local) and quaternion (w, x, y, z) of every env."""
        data = self.robot.data
        pos = _np(data.body_pos_w)[:, self.ee] - self.origins
        return pos, wxyz(_np(data.body_quat_w)[:, self.ee])

    def reset(self, rows: np.ndarray) -> None:
        """Put ``rows`` at the home pose, at rest, with the home pose as target."""
        env_ids = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        q = self._t(np.tile(self.home, (len(rows), 1)))
        self.robot.write_joint_position_to_sim_index(
            position=q, joint_ids=self.joints, env_ids=env_ids
        )
        self.robot.write_joint_velocity_to_sim_index(
            velocity=torch.zeros_like(q), joint_ids=self.joints, env_ids=env_ids
        )
        self.robot.actuators.target_command.set_position_index(
            value=q, joint_ids=self.joints, env_ids=env_ids
        )

    def after_reset(self, rows: np.ndarray) -> None:
        pos, quat = self.ee_pose()
        self.target_pos[rows], self.target_quat[rows] = pos[rows], quat[rows]

    def apply(self, actions: np.ndarray) -> None:
        if self.franka.mode == "joint_pos":
            arm = np.clip(actions[:, :7], self.q_low, self.q_high)
        else:
            arm = self._ik(actions[:, :6])
        opening = FINGER_OPEN * 0.5 * (np.clip(actions[:, -1], -1.0, 1.0) + 1.0)
        targets = np.concatenate([arm, opening[:, None], -opening[:, None]], axis=1)
        self.robot.actuators.target_command.set_position_index(
            value=self._t(targets), joint_ids=self.joints
        )

    def _ik(self, delta: np.ndarray) -> np.ndarray:
        delta = np.clip(delta, self.low, self.high)
        pos, quat = self.ee_pose()
        self.target_pos, self.target_quat, _ = ik.follow(
            self.target_pos, self.target_quat, pos, quat, delta, self.franka.max_lag
        )
        data = self.robot.data
        jacobian = data.body_link_jacobian_w.torch[:, self.jac_row][:, :, self.arm]
        command = np.concatenate([self.target_pos, xyzw(self.target_quat)], axis=1)
        self.ik.set_command(self._t(command))
        q = data.joint_pos.torch[:, self.arm]
        out = self.ik.compute(self._t(pos), self._t(xyzw(quat)), jacobian, q)
        return np.clip(_np(out), self.q_low, self.q_high)

    def observe(self, out: dict[str, np.ndarray]) -> None:
        data = self.robot.data
        joints = self.arm + self.fingers
        q = _np(data.joint_pos)
        pos, quat = self.ee_pose()
        out["joint_pos"][:] = q[:, joints]
        out["joint_vel"][:] = _np(data.joint_vel)[:, joints]
        out["ee_pos"][:] = pos
        out["ee_quat"][:] = quat
        out["gripper_opening"][:, 0] = q[:, self.fingers[0]] - q[:, self.fingers[1]]
