"""Franka Panda with its parallel gripper, from robosuite's installed MJCF files.

The arm's torque motors are replaced by joint position servos with gravity compensation, so
both action modes share one low-level controller:
- ``joint_pos``: absolute joint targets (7) + gripper command;
- ``ee_delta``: end-effector delta pose (world-frame translation in metres, rotation vector in
  radians) + gripper command, through the shared differential IK (``ik.py``): deltas move a
  per-env target pose, and one batched damped-least-squares step per control step turns the
  remaining error into joint targets.
The gripper command is in [-1, 1]: -1 closed, +1 open.
"""

from __future__ import annotations

import mujoco
import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.assets import load_spec, robosuite_asset
from arena_eval.envs.mujoco.embodiments import ik
from arena_eval.envs.mujoco.embodiments.base import (
    ActionLayout,
    Embodiment,
    EmbodimentState,
    as_index,
)
from arena_eval.envs.observations import Read

ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
# Home pose: gripper pointing down, fingers closing along world y, the grip point 0.42 m in
# front of the base and 0.42 m above the table.
HOME = np.array([0.0, -0.4388, 0.0, -2.2992, 0.0, 1.8604, 0.7859])
FINGER_OPEN = 0.04  # metres per finger
PREFIX = "robot_"


class Franka(Embodiment):
    def __init__(
        self,
        mode: str,
        kp: tuple[float, ...] = (1200, 1200, 1000, 1000, 600, 400, 200),
        ik_damping: float = 0.05,
        max_delta_pos: float = 0.05,
        max_delta_rot: float = 0.3,
        max_lag: float = 0.08,
    ) -> None:
        if mode not in ("ee_delta", "joint_pos"):
            raise ValueError(f"franka: unknown action mode {mode!r} (ee_delta or joint_pos)")
        self.mode = mode
        self.name = "franka_ik" if mode == "ee_delta" else "franka_joint_pos"
        self.kp = tuple(float(k) for k in kp)
        self.ik_damping = float(ik_damping)
        self.max_lag = float(max_lag)
        if mode == "ee_delta":
            p, r = float(max_delta_pos), float(max_delta_rot)
            self.layout = ActionLayout(
                mode,
                ("dx", "dy", "dz", "drx", "dry", "drz", "gripper"),
                (-p, -p, -p, -r, -r, -r, -1.0),
                (p, p, p, r, r, r, 1.0),
            )
        else:
            spec = load_spec(robosuite_asset("robots/panda/robot.xml"))
            ranges = [tuple(spec.joint(j).range) for j in ARM_JOINTS]
            self.layout = ActionLayout(
                mode,
                (*ARM_JOINTS, "gripper"),
                (*(r[0] for r in ranges), -1.0),
                (*(r[1] for r in ranges), 1.0),
            )

    def observations(self) -> dict[str, ArraySpec]:
        return {
            "joint_pos": ArraySpec((9,)),
            "joint_vel": ArraySpec((9,)),
            "ee_pos": ArraySpec((3,)),
            "ee_quat": ArraySpec((4,)),
            "gripper_opening": ArraySpec((1,)),
        }

    def cameras(self) -> dict[str, str]:
        # robosuite's panda robot.xml: eye_in_hand on right_hand, robotview behind the base.
        return {"wrist": PREFIX + "eye_in_hand", "robotview": PREFIX + "robotview"}

    def attach(self, world: mujoco.MjSpec) -> None:
        arm = load_spec(robosuite_asset("robots/panda/robot.xml"))
        gripper = load_spec(robosuite_asset("grippers/panda_gripper.xml"))
        for actuator in list(arm.actuators):
            arm.delete(actuator)
        for body in arm.bodies:
            body.gravcomp = 1.0
        for geom in arm.geoms:
            # The arm collides with the world (contype 2 meets conaffinity 3 of fixtures and
            # objects) but not with itself or its gripper: no mesh-mesh self-collision cost.
            if geom.contype or geom.conaffinity:
                geom.contype, geom.conaffinity = 2, 0
        for body in gripper.bodies:
            body.gravcomp = 1.0
        for joint, kp in zip(ARM_JOINTS, self.kp, strict=True):
            actuator = arm.add_actuator(name=f"servo_{joint}", target=joint)
            actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
            actuator.set_to_position(kp=kp, dampratio=1.0, inheritrange=1.0)
            arm.joint(joint).armature = 0.1
        arm.body("right_hand").add_frame().attach_body(
            gripper.body("right_gripper"), "gripper_", ""
        )
        world.worldbody.add_frame().attach_body(arm.body("base"), PREFIX, "")

    def bind(self, model: mujoco.MjModel, sims) -> EmbodimentState:
        return FrankaState(self, model, sims)


class FrankaState(EmbodimentState):
    def __init__(self, franka: Franka, model: mujoco.MjModel, sims) -> None:
        self.franka = franka
        self.sims = sims
        joints = [PREFIX + j for j in ARM_JOINTS]
        fingers = [PREFIX + "gripper_finger_joint1", PREFIX + "gripper_finger_joint2"]
        self.qadr = np.array([model.joint(j).qposadr[0] for j in joints + fingers])
        self.vadr = np.array([model.joint(j).dofadr[0] for j in joints + fingers])
        self.arm_dofs = self.vadr[:7]
        self.arm_ctrl = np.array([model.actuator(f"{PREFIX}servo_{j}").id for j in ARM_JOINTS])
        self.finger_ctrl = np.array(
            [model.actuator(f"{PREFIX}gripper_gripper_finger_joint{i}").id for i in (1, 2)]
        )
        self.ee_body = model.body(PREFIX + "gripper_eef").id
        lo, hi = model.jnt_range[[model.joint(j).id for j in joints]].T
        self.q_low, self.q_high = lo, hi
        # Views of this robot's state and controls in every simulation (slices where the ids
        # run consecutively, as they do for the Panda): the step reads and writes in place.
        self.joint_q, self.joint_v = as_index(self.qadr), as_index(self.vadr)
        self.arm_u = as_index(self.arm_ctrl)
        self.finger_u = as_index(self.finger_ctrl)
        # Both fingers' targets from the grip command in one product: (a + 1) times +-half
        # the opening (the second finger's sign flip is exact, so the same numbers as before).
        self.finger_scale = np.array([FINGER_OPEN * 0.5, -FINGER_OPEN * 0.5])
        # The joint_pos action's bounds (joint range, then the grip's [-1, 1]), and whether the
        # arm's and fingers' controls are runs of columns (views; they are for the Panda).
        self.joint_action_low = np.r_[lo, -1.0]
        self.joint_action_high = np.r_[hi, 1.0]
        self.views = isinstance(self.arm_u, slice) and isinstance(self.finger_u, slice)
        # The joint_pos step on whole arrays of one shape (NumPy's fast path, no broadcasting,
        # no slicing): each control's action column (the grip twice), clamped, shifted (the grip
        # by +1, the arm by -0.0, which leaves every number as it is, signed zeros too) and
        # scaled (the arm by 1), then copied into the arm's and fingers' controls, when those
        # are one run of columns (the Panda's are).
        self.run = self.views and self.arm_u.stop == self.finger_u.start and self.arm_u.step is None
        if self.run:
            self.run_ctrl = sims.ctrl[:, self.arm_u.start : self.finger_u.stop]
            self.run_columns = np.r_[np.arange(7), 7, 7]
            rows = (sims.nsim, 1)
            self.run_low = np.tile(self.joint_action_low[self.run_columns], rows)
            self.run_high = np.tile(self.joint_action_high[self.run_columns], rows)
            self.run_shift = np.tile(np.r_[np.full(7, -0.0), 1.0, 1.0], rows)
            self.run_scale = np.tile(np.r_[np.ones(7), self.finger_scale], rows)
            self.run_scratch = np.empty(self.run_ctrl.shape)
        self.finger_q = (sims.qpos[:, self.qadr[7]], sims.qpos[:, self.qadr[8]])  # live views
        self.opening = np.zeros(sims.nsim)
        self.delta_low = np.array(franka.layout.low[:6])
        self.delta_high = np.array(franka.layout.high[:6])
        # The IK's Jacobian from bound fields (bound now: a field bound later reads zero until
        # the next call); joint_pos never needs it, and binding costs a copy per call.
        self.jacobian = (
            ik.point_jacobian(model, sims.batch, self.ee_body, self.arm_dofs)
            if franka.mode == "ee_delta"
            else None
        )
        self.target_pos = np.zeros((sims.nsim, 3))
        self.target_quat = np.tile([1.0, 0, 0, 0], (sims.nsim, 1))

    def home(self, qpos: np.ndarray, ctrl: np.ndarray) -> None:
        qpos[:, self.qadr[:7]] = HOME
        qpos[:, self.qadr[7]] = FINGER_OPEN
        qpos[:, self.qadr[8]] = -FINGER_OPEN
        ctrl[:, self.arm_ctrl] = HOME
        ctrl[:, self.finger_ctrl] = (FINGER_OPEN, -FINGER_OPEN)

    def after_reset(self, rows: np.ndarray) -> None:
        self.target_pos[rows] = self.sims.xpos[rows, self.ee_body]
        self.target_quat[rows] = self.sims.xquat[rows, self.ee_body]

    def apply(self, actions: np.ndarray, ids: np.ndarray | slice) -> None:
        sims = self.sims
        ctrl = sims.ctrl
        # ``ids`` is a slice (every simulation) on the hot path, else an array of rows.
        every = isinstance(ids, slice)
        # np.minimum/np.maximum, not np.clip: the same result without np.clip's dispatch.
        if self.franka.mode == "joint_pos" and every and self.run:
            u = self.run_scratch
            actions.take(self.run_columns, 1, u)
            np.maximum(u, self.run_low, out=u)
            np.minimum(u, self.run_high, out=u)
            np.add(u, self.run_shift, out=u)
            np.multiply(u, self.run_scale, out=u)
            self.run_ctrl[...] = u
            return
        if self.franka.mode == "joint_pos":
            targets = np.minimum(np.maximum(actions[:, :7], self.q_low), self.q_high)
        else:
            targets = self._ik(actions[:, :6], ids)
        ctrl[(ids, self.arm_ctrl) if every else np.ix_(ids, self.arm_ctrl)] = targets
        opening = np.minimum(np.maximum(actions[:, -1:], -1.0), 1.0)
        opening += 1.0
        if every and isinstance(self.finger_u, slice):
            np.multiply(opening, self.finger_scale, out=ctrl[:, self.finger_u])
        else:
            index = (ids, self.finger_ctrl) if every else np.ix_(ids, self.finger_ctrl)
            ctrl[index] = opening * self.finger_scale

    def _ik(self, delta: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Move the targets by ``delta``; one damped-least-squares step towards them."""
        sims, f = self.sims, self.franka
        delta = np.minimum(np.maximum(delta, self.delta_low), self.delta_high)
        pos, quat = sims.xpos[ids, self.ee_body], sims.xquat[ids, self.ee_body]
        target_pos, target_quat, error = ik.follow(
            self.target_pos[ids], self.target_quat[ids], pos, quat, delta, f.max_lag
        )
        self.target_pos[ids], self.target_quat[ids] = target_pos, target_quat
        dq = ik.dls(self.jacobian(pos, ids), error, f.ik_damping)
        q = sims.qpos[ids][:, self.qadr[:7]]
        return np.minimum(np.maximum(q + dq, self.q_low), self.q_high)

    def reads(self) -> list[Read]:
        sims = self.sims
        return [
            Read("joint_pos", sims.qpos, self.joint_q),
            Read("joint_vel", sims.qvel, self.joint_v),
            Read("ee_pos", sims.xpos, self.ee_body),
            Read("ee_quat", sims.xquat, self.ee_body),
        ]

    def derive(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        first, second = self.finger_q
        if isinstance(rows, slice):  # in float64 (one dtype: the fast path), then cast in
            np.subtract(first, second, out=self.opening)
            out["gripper_opening"][rows, 0] = self.opening
        else:
            out["gripper_opening"][rows, 0] = first - second
