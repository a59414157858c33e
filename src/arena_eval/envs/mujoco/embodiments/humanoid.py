"""Humanoids with a fixed lower body: Fourier GR1 and Unitree G1, from installed asset files.

The robot's free joint and leg joints are removed, so the pelvis and legs are welded to the
world at ``base_pos``; the upper body (waist/torso, head where present, both arms) is driven by
joint position servos with gravity compensation, like the Franka. Each hand is a dexterous hand
attached at the robot's ``right_mount``/``left_mount`` body; its finger joints follow one grip
scalar per hand.

Action (``joint_pos`` mode): absolute targets (rad) for the upper-body joints in
``BODY_JOINTS`` order, then ``right_grip`` and ``left_grip`` in [-1, 1] (-1 closed, +1 open,
like the Franka gripper), each mapped linearly onto every finger joint of that hand between
its open and closed poses.

Observations: ``joint_pos``/``joint_vel`` of the upper-body joints (action order);
``right_ee_pos``/``right_ee_quat`` and ``left_ee_pos``/``left_ee_quat`` of each hand's ``eef``
body (world frame, quaternion w-first); ``hand_closure`` (right, left): the mean finger closure,
0 open and 1 closed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import mujoco
import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.assets import package_dir, robosuite_asset
from arena_eval.envs.mujoco.embodiments.base import ActionLayout, Embodiment, EmbodimentState

PREFIX = "robot_"
HANDS = ("right", "left")


@dataclass(frozen=True)
class HumanoidModel:
    """What differs between humanoids: files, driven joints, gains, home pose, placement."""

    name: str
    robot: Path
    hands: tuple[Path, Path]  # right, left
    body_joints: tuple[str, ...]  # driven upper-body joints, in action order
    kp: tuple[float, ...]  # one servo gain per body joint (N m / rad)
    home: tuple[float, ...]  # body joint targets of the home pose
    # Per hand, per finger joint (hand file order): the open and closed targets.
    hand_open: tuple[tuple[float, ...], tuple[float, ...]]
    hand_closed: tuple[tuple[float, ...], tuple[float, ...]]
    base_pos: tuple[float, float, float]  # where the robot's base body goes in the world
    finger_kp: float = 5.0
    cameras: tuple[tuple[str, str], ...] = ()  # job-facing name -> camera in the robot file


def _gr1() -> HumanoidModel:
    arm = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow_pitch")
    wrist = ("wrist_yaw", "wrist_roll", "wrist_pitch")
    joints = (
        "torso_waist_yaw",
        "torso_waist_pitch",
        "torso_waist_roll",
        "head_yaw",
        "head_roll",
        "head_pitch",
        *(f"r_{j}" for j in arm + wrist),
        *(f"l_{j}" for j in arm + wrist),
    )
    arm_kp = (400.0, 400.0, 200.0, 200.0, 60.0, 60.0, 60.0)
    kp = (2000.0, 2000.0, 2000.0, 50.0, 50.0, 50.0, *arm_kp, *arm_kp)
    # Leaning forward, arms reaching ahead: the hands' eef bodies at (0.32, +-0.14, 0.18).
    right = (-1.0, -0.1, 0.0, -0.6, 0.0, 0.0, 0.0)
    left = (-1.0, 0.1, 0.0, -0.6, 0.0, 0.0, 0.0)
    home = (0.0, 0.35, 0.0, 0.0, 0.0, 0.25, *right, *left)
    # Fourier hand joints: thumb yaw, thumb pitch, thumb distal, then proximal/intermediate of
    # index, middle, ring and pinky. Open is straight; closed curls every finger; the thumb
    # stays rotated towards the palm in both.
    opened = (1.2, 0.0, 0.0, *(0.0,) * 8)
    closed = (1.2, 0.9, 0.9, *(1.3, 1.3) * 4)
    return HumanoidModel(
        name="gr1_joint",
        robot=robosuite_asset("robots/gr1/robot.xml"),
        hands=(
            robosuite_asset("grippers/fourier_right_hand.xml"),
            robosuite_asset("grippers/fourier_left_hand.xml"),
        ),
        body_joints=joints,
        kp=kp,
        home=home,
        hand_open=(opened, opened),
        hand_closed=(closed, closed),
        base_pos=(-0.15, 0.0, 0.1),
        finger_kp=20.0,  # the hand file's finger damping (1 N m s/rad) makes kp 5 sluggish
        cameras=(
            ("head", "robotview"),
            ("wrist", "eye_in_right_hand"),
            ("left_wrist", "eye_in_left_hand"),
        ),
    )


def _g1() -> HumanoidModel:
    root = package_dir("robosuite_models") / "assets"
    arm = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow_pitch", "elbow_roll")
    joints = ("torso_joint", *(f"r_{j}_joint" for j in arm), *(f"l_{j}_joint" for j in arm))
    arm_kp = (300.0, 300.0, 150.0, 150.0, 50.0)
    kp = (1500.0, *arm_kp, *arm_kp)
    # Arms reaching ahead: the hands' eef bodies at (0.27, +-0.15, 0.23).
    home = (0.0, -0.8, -0.15, 0.0, 0.6, 0.0, -0.8, 0.15, 0.0, 0.6, 0.0)
    # Three-finger hands (thumb rotation, thumb x2, two fingers x2): robosuite's closing
    # directions, one radian each; the thumb rotation stays at zero.
    closed_r = (0.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0)
    closed_l = (0.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0)
    return HumanoidModel(
        name="g1_joint",
        robot=root / "robots/g1/robot.xml",
        hands=(
            root / "grippers/g1_three_finger_right_gripper.xml",
            root / "grippers/g1_three_finger_left_gripper.xml",
        ),
        body_joints=joints,
        kp=kp,
        home=home,
        hand_open=((0.0,) * 7, (0.0,) * 7),
        hand_closed=(closed_r, closed_l),
        base_pos=(-0.08, 0.0, -0.7),  # the pelvis just at the table top
        finger_kp=5.0,
    )


MODELS = {"gr1_joint": _gr1, "g1_joint": _g1}


def _load(path: Path) -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_file(str(path))
    spec.compiler.degree = False
    return spec


class Humanoid(Embodiment):
    def __init__(self, model: str, base_pos: tuple[float, float, float] | None = None) -> None:
        if model not in MODELS:
            raise ValueError(f"humanoid: unknown model {model!r} ({', '.join(sorted(MODELS))})")
        self.model = MODELS[model]()
        if base_pos is not None:
            self.model = replace(self.model, base_pos=tuple(float(v) for v in base_pos))
        self.name = self.model.name
        m = self.model
        if not (len(m.body_joints) == len(m.kp) == len(m.home)):
            raise ValueError(f"{m.name}: joints, gains and home pose differ in length")
        robot = _load(m.robot)
        ranges = [tuple(robot.joint(j).range) for j in m.body_joints]
        self.layout = ActionLayout(
            "joint_pos",
            (*m.body_joints, "right_grip", "left_grip"),
            (*(r[0] for r in ranges), -1.0, -1.0),
            (*(r[1] for r in ranges), 1.0, 1.0),
        )

    def observations(self) -> dict[str, ArraySpec]:
        n = len(self.model.body_joints)
        obs = {"joint_pos": ArraySpec((n,)), "joint_vel": ArraySpec((n,))}
        for hand in HANDS:
            obs[f"{hand}_ee_pos"] = ArraySpec((3,))
            obs[f"{hand}_ee_quat"] = ArraySpec((4,))
        obs["hand_closure"] = ArraySpec((2,))
        return obs

    def cameras(self) -> dict[str, str]:
        return {key: PREFIX + camera for key, camera in self.model.cameras}

    def attach(self, world: mujoco.MjSpec) -> None:
        m = self.model
        robot = _load(m.robot)
        driven = set(m.body_joints)
        for actuator in list(robot.actuators):
            robot.delete(actuator)
        # No free joint and no legs: every joint not driven is deleted, welding its body.
        for joint in list(robot.joints):
            if joint.name not in driven:
                robot.delete(joint)
        # The legs would stand inside the table's edge (the table top is the world's z = 0 and
        # there is no floor); welded, they do nothing but cost collision and render time.
        robot.delete(robot.body("lower_body"))
        for body in robot.bodies:
            body.gravcomp = 1.0
        _robot_collisions(robot)
        for joint, kp in zip(m.body_joints, m.kp, strict=True):
            _servo(robot, joint, kp, armature=0.1)
        for hand, path in zip(HANDS, m.hands, strict=True):
            spec = _load(path)
            for actuator in list(spec.actuators):
                spec.delete(actuator)
            for body in spec.bodies:
                body.gravcomp = 1.0
            _robot_collisions(spec)
            for joint in spec.joints:
                _servo(spec, joint.name, m.finger_kp, armature=0.005)
            root = spec.worldbody.first_body()
            robot.body(f"{hand}_mount").add_frame().attach_body(root, f"{hand}_gripper_", "")
        frame = world.worldbody.add_frame(pos=list(m.base_pos))
        frame.attach_body(robot.body("base"), PREFIX, "")

    def bind(self, model: mujoco.MjModel, sims) -> EmbodimentState:
        return HumanoidState(self, model, sims)


def _robot_collisions(spec: mujoco.MjSpec) -> None:
    # The robot collides with the world (contype 2 meets conaffinity 3 of fixtures and objects)
    # but not with itself: no mesh-mesh self-collision cost.
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = 2, 0


def _servo(spec: mujoco.MjSpec, joint: str, kp: float, armature: float) -> None:
    actuator = spec.add_actuator(name=f"servo_{joint}", target=joint)
    actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
    actuator.set_to_position(kp=kp, dampratio=1.0)
    # The files' default classes carry their own control ranges: use the joint's range.
    actuator.ctrlrange = spec.joint(joint).range
    actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    spec.joint(joint).armature = armature


def _cells(ids: np.ndarray | slice, cols: np.ndarray):
    """Index of columns ``cols`` of rows ``ids``: a slice (every simulation, the hot path) keeps
    a view; an array of rows needs the open mesh."""
    return (ids, cols) if isinstance(ids, slice) else np.ix_(ids, cols)


class HumanoidState(EmbodimentState):
    def __init__(self, humanoid: Humanoid, model: mujoco.MjModel, sims) -> None:
        m = humanoid.model
        self.sims = sims
        body = [PREFIX + j for j in m.body_joints]
        self.qadr = np.array([model.joint(j).qposadr[0] for j in body])
        self.vadr = np.array([model.joint(j).dofadr[0] for j in body])
        self.body_ctrl = np.array([model.actuator(f"{PREFIX}servo_{j}").id for j in m.body_joints])
        self.home_q = np.array(m.home)
        lo, hi = model.jnt_range[[model.joint(j).id for j in body]].T
        self.q_low, self.q_high = lo, hi
        self.finger_qadr, self.finger_ctrl, self.ee_body = [], [], []
        for i, hand in enumerate(HANDS):
            prefix = f"{PREFIX}{hand}_gripper_"
            joints = [
                model.joint(j).name
                for j in range(model.njnt)
                if model.joint(j).name.startswith(prefix)
            ]
            if len(joints) != len(m.hand_open[i]):
                raise ValueError(f"{m.name}: {hand} hand has {len(joints)} finger joints")
            self.finger_qadr.append(np.array([model.joint(j).qposadr[0] for j in joints]))
            self.finger_ctrl.append(
                np.array([model.actuator(f"{prefix}servo_{j[len(prefix) :]}").id for j in joints])
            )
            self.ee_body.append(model.body(prefix + "eef").id)
        self.open = [np.array(v) for v in m.hand_open]
        self.span = [
            np.array(c) - np.array(o) for o, c in zip(m.hand_open, m.hand_closed, strict=True)
        ]
        self.ngrip = len(m.body_joints)

    def home(self, qpos: np.ndarray, ctrl: np.ndarray) -> None:
        qpos[:, self.qadr] = self.home_q
        ctrl[:, self.body_ctrl] = self.home_q
        for qadr, act, opened in zip(self.finger_qadr, self.finger_ctrl, self.open, strict=True):
            qpos[:, qadr] = opened
            ctrl[:, act] = opened

    def apply(self, actions: np.ndarray, ids: np.ndarray | slice) -> None:
        ctrl = self.sims.ctrl
        n = self.ngrip
        targets = np.clip(actions[:, :n], self.q_low, self.q_high)
        ctrl[_cells(ids, self.body_ctrl)] = targets
        for i in range(2):
            closure = 0.5 * (1.0 - np.clip(actions[:, n + i], -1.0, 1.0))
            ctrl[_cells(ids, self.finger_ctrl[i])] = self.open[i] + closure[:, None] * self.span[i]

    def observe(self, out: dict[str, np.ndarray], rows: np.ndarray) -> None:
        sims = self.sims
        out["joint_pos"][rows] = sims.qpos[:, self.qadr]
        out["joint_vel"][rows] = sims.qvel[:, self.vadr]
        for i, hand in enumerate(HANDS):
            out[f"{hand}_ee_pos"][rows] = sims.xpos[:, self.ee_body[i]]
            out[f"{hand}_ee_quat"][rows] = sims.xquat[:, self.ee_body[i]]
            q = sims.qpos[:, self.finger_qadr[i]]
            span = self.span[i]
            moving = span != 0
            frac = (q[:, moving] - self.open[i][moving]) / span[moving]
            out["hand_closure"][rows, i] = frac.mean(axis=1)
