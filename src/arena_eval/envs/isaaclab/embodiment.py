"""Any MuJoCo embodiment's own controller on Isaac Lab, through a robot view.

An embodiment state (``envs/mujoco/embodiments``) reads ``qpos``/``qvel``/``xpos``/``xquat``,
writes ``ctrl`` (its position servos' targets) and asks ``batch.jac`` for Jacobians. The
:class:`RobotView` offers exactly those, in the compiled MuJoCo model's layout, from the Isaac
Lab articulation: joints and bodies by name, the servos' targets sent on as the articulation's
joint position targets, Jacobians from ``body_link_jacobian_w`` moved to the asked point. So the
humanoids' bimanual IK, hands and finger coupling run here unchanged; their drives are Isaac
Lab implicit actuators with the gains the MuJoCo backend compiles for the servos
(``drives.servo_gains``).
"""

from __future__ import annotations

import numpy as np
import torch

from arena_eval.envs.isaaclab.state import _np, wxyz
from arena_eval.envs.isaaclab.usd import mjcf_name


def servo_gains(model, usd_joints: list[str], kp, kv) -> tuple[dict, dict]:
    """Stiffness and damping (``kp``, ``kv`` per actuator, from :func:`drives.servo_gains`)
    of every joint-position servo of the compiled model, keyed by the articulation's (USD)
    joint names."""
    servo = {}
    for i in range(model.nu):
        joint = model.joint(int(model.actuator_trnid[i, 0])).name
        servo[joint] = (float(kp[i]), float(kv[i]))
    gains, damping = {}, {}
    for name in usd_joints:
        mj = mjcf_name(name, lambda n: _has_joint(model, n))
        if mj in servo:
            gains[name], damping[name] = servo[mj]
    return gains, damping


def actuators_for(model, usd_joints: list[str], kp, kv) -> dict:
    from isaaclab.actuators import ImplicitActuatorCfg

    gains, damping = servo_gains(model, usd_joints, kp, kv)
    return {
        "servos": ImplicitActuatorCfg(
            joint_names_expr=list(gains), stiffness=gains, damping=damping
        )
    }


class _Batch:
    """The one ``mujoco.batch.Batch`` call embodiments make beyond the arrays: ``jac``."""

    def __init__(self, view: RobotView) -> None:
        self.view = view

    def jac(self, body: int, point: np.ndarray, ids=None) -> tuple[np.ndarray, np.ndarray]:
        return self.view.jac(body, point, ids)


class RobotView:
    def __init__(self, model, robot, origins: np.ndarray, control_hz: float, device: str):
        self.model = model
        self.robot = robot
        self.origins = origins.astype(np.float64)
        self.nsim = len(origins)
        self.control_hz = control_hz
        self.device = device
        self.qpos = np.tile(model.qpos0, (self.nsim, 1))
        self.qvel = np.zeros((self.nsim, model.nv))
        self.ctrl = np.zeros((self.nsim, model.nu))
        self.xpos = np.zeros((self.nsim, model.nbody, 3))
        self.xquat = np.tile([1.0, 0, 0, 0], (self.nsim, model.nbody, 1))
        self.batch = _Batch(self)
        names = list(robot.joint_names)
        mj_joint = [mjcf_name(n, lambda x: _has_joint(model, x)) for n in names]
        self.joint_ids = np.array([i for i, n in enumerate(mj_joint) if n], dtype=np.int64)
        joints = [model.joint(mj_joint[i]) for i in self.joint_ids]
        self.qadr = np.array([int(j.qposadr[0]) for j in joints])
        self.dofadr = np.array([int(j.dofadr[0]) for j in joints])
        bodies = [mjcf_name(b, lambda x: _has_body(model, x)) for b in robot.body_names]
        self.body_ids = np.array([i for i, b in enumerate(bodies) if b])
        self.mj_bodies = np.array([model.body(bodies[i]).id for i in self.body_ids])
        self._row_of_body = {
            int(b): int(i) for b, i in zip(self.mj_bodies, self.body_ids, strict=True)
        }
        # Servos: actuator -> the articulation's joint it targets.
        act_joint = [model.joint(int(model.actuator_trnid[a, 0])).name for a in range(model.nu)]
        self.act_cols = np.array([a for a in range(model.nu) if act_joint[a] in mj_joint])
        self.act_joint_ids = torch.tensor(
            [mj_joint.index(act_joint[a]) for a in self.act_cols], device=device
        )
        # MuJoCo clamps a servo's ctrl to its ctrlrange; Newton's drives take any target.
        limited = model.actuator_ctrllimited[self.act_cols].astype(bool)
        ranges = model.actuator_ctrlrange[self.act_cols]
        self.ctrl_low = np.where(limited, ranges[:, 0], -np.inf)
        self.ctrl_high = np.where(limited, ranges[:, 1], np.inf)
        self.fixed = robot.is_fixed_base

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=self.device)

    def pull(self) -> None:
        data = self.robot.data
        self.qpos[:, self.qadr] = _np(data.joint_pos)[:, self.joint_ids]
        self.qvel[:, self.dofadr] = _np(data.joint_vel)[:, self.joint_ids]
        self.xpos[:, self.mj_bodies] = (
            _np(data.body_pos_w)[:, self.body_ids] - self.origins[:, None]
        )
        self.xquat[:, self.mj_bodies] = wxyz(_np(data.body_quat_w)[:, self.body_ids])

    def push_joints(self, rows: np.ndarray) -> None:
        """The rows' joint positions (zero velocity) and servo targets into the simulation."""
        env_ids = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        joint_ids = torch.as_tensor(self.joint_ids, device=self.device)
        q = self._t(self.qpos[np.ix_(rows, self.qadr)])
        self.robot.write_joint_position_to_sim_index(
            position=q, joint_ids=joint_ids, env_ids=env_ids
        )
        self.robot.write_joint_velocity_to_sim_index(
            velocity=torch.zeros_like(q), joint_ids=joint_ids, env_ids=env_ids
        )
        self.send_targets(rows)

    def send_targets(self, rows: np.ndarray | None = None) -> None:
        if rows is None:
            targets = np.clip(self.ctrl[:, self.act_cols], self.ctrl_low, self.ctrl_high)
            self.robot.actuators.target_command.set_position_index(
                value=self._t(targets), joint_ids=self.act_joint_ids
            )
            return
        env_ids = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        targets = np.clip(self.ctrl[np.ix_(rows, self.act_cols)], self.ctrl_low, self.ctrl_high)
        self.robot.actuators.target_command.set_position_index(
            value=self._t(targets),
            joint_ids=self.act_joint_ids,
            env_ids=env_ids,
        )

    def jac(self, body: int, point: np.ndarray, ids=None) -> tuple[np.ndarray, np.ndarray]:
        """MuJoCo's ``(jacp, jacr)`` ``[n, 3, nv]`` of ``body`` at world ``point`` (env-local)."""
        rows = slice(None) if ids is None else np.asarray(ids)
        link = self._row_of_body[int(body)]
        row = link - 1 if self.fixed else link
        full = _np(self.robot.data.body_link_jacobian_w)[rows, row]  # [n, 6, nj (+6)]
        cols = self.joint_ids + (0 if self.fixed else 6)
        lin, ang = full[:, :3][:, :, cols], full[:, 3:][:, :, cols]
        # Move the linear rows from the link's origin to the point: v_p = v_o + w x (p - o).
        offset = np.asarray(point) - self.xpos[rows, body]
        lin = lin - np.cross(offset[:, None, :], ang.transpose(0, 2, 1)).transpose(0, 2, 1)
        n = lin.shape[0]
        jacp = np.zeros((n, 3, self.model.nv))
        jacr = np.zeros((n, 3, self.model.nv))
        jacp[:, :, self.dofadr], jacr[:, :, self.dofadr] = lin, ang
        return jacp, jacr


def _has_joint(model, name: str) -> bool:
    try:
        model.joint(name)
    except KeyError:
        return False
    return True


def _has_body(model, name: str) -> bool:
    try:
        model.body(name)
    except KeyError:
        return False
    return True


class MjEmbodiment:
    """The Isaac Lab env's robot interface around a MuJoCo embodiment state."""

    def __init__(self, embodiment, model, robot, origins, control_hz, device) -> None:
        self.view = RobotView(model, robot, origins, control_hz, device)
        self.view.pull()
        self.state = embodiment.bind(model, self.view)

    # The view is pulled once per step, in observe() (the env observes after every step and
    # reset), so apply() and the task-space IK read it as it is.
    def reset(self, rows: np.ndarray) -> None:
        view = self.view
        qpos, ctrl = view.qpos[rows], view.ctrl[rows]
        self.state.home(qpos, ctrl)
        view.qpos[rows], view.ctrl[rows] = qpos, ctrl
        view.push_joints(rows)

    def after_reset(self, rows: np.ndarray) -> None:
        self.view.pull()
        self.state.after_reset(rows)

    def apply(self, actions: np.ndarray) -> None:
        self.state.apply(actions, slice(None))
        self.view.send_targets()

    def observe(self, out: dict[str, np.ndarray]) -> None:
        self.view.pull()
        self.state.observe(out, slice(None))

    def task_space_targets(self, actions: np.ndarray) -> np.ndarray | None:
        fn = getattr(self.state, "task_space_targets", None)
        return None if fn is None else fn(actions)
