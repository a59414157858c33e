"""Humanoids with a fixed lower body: Fourier GR1 and Unitree G1, from installed asset files.

The robot's free joint and leg joints are removed, so the pelvis is welded to the world at
``base_pos`` (a person standing at the counter: the table top is the world's z = 0); the arms
and the waist are driven by joint position servos with gravity compensation, like the Franka;
the head holds its home pose. Each dexterous hand is attached at the robot's ``<hand>_eef``
body, as robosuite mounts it.

Action groups, in GR00T's order (``spec.embodiment_info["action_groups"]`` names the slices):

- ``joint_pos`` (``gr1_joint``, ``g1_joint``): ``left_arm``, ``right_arm`` (absolute joint
  targets, rad), ``left_hand``, ``right_hand``, then ``waist`` when ``waist=true``.
- ``ee_delta`` (``gr1_ik``, ``g1_ik``): ``left_ee``, ``right_ee`` (a delta pose per hand of its
  grasp frame, world frame: translation in metres, rotation vector in radians), then the hands.
  One batched damped-least-squares step on both arms' Jacobians (and the waist's, with
  ``waist=true``) tracks both hands' targets at once: without the waist the arms are
  independent; with it, the shared waist's motion is compensated in the same step.

A hand is ``hands=grip`` (one scalar in [-1, 1], -1 closed, +1 open, mapped onto every finger
joint) or, on GR1, ``hands=fingers``: the six actuated joints of a Fourier hand in GR00T's
order (pinky, ring, middle, index, thumb yaw, thumb pitch; rad), the intermediate and distal
joints following by coupling.

Observations: ``joint_pos``/``joint_vel`` of the driven joints (the action's arm, waist and,
with fingers, hand joints, in action order; ``embodiment_info["joint_groups"]`` names them);
``<hand>_ee_pos``/``<hand>_ee_quat`` of each hand's grasp frame (world, quaternion w-first:
x along the fingers, z out of the palm, origin where a grasped object sits); ``hand_closure``
(left, right): the mean finger closure, 0 open and 1 closed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.assets import load_spec, package_dir, robosuite_asset
from arena_eval.envs.mujoco.embodiments import ik
from arena_eval.envs.mujoco.embodiments.base import ActionLayout, Embodiment, EmbodimentState
from arena_eval.envs.observations import Read

PREFIX = "robot_"
HANDS = ("left", "right")  # GR00T's group order


@dataclass(frozen=True)
class HumanoidModel:
    """What differs between humanoids: files, joints, gains, home pose, hands, placement."""

    family: str  # "gr1" | "g1"
    robot: Path
    hands: dict[str, Path]  # left/right -> hand file
    arms: dict[str, tuple[str, ...]]  # left/right -> arm joints, shoulder to wrist
    waist: tuple[str, ...]
    head: tuple[str, ...]
    kp: dict[str, float]  # servo gain per robot joint (N m / rad)
    home: dict[str, float]  # robot joint targets of the home pose (others: 0)
    # Per hand, per finger joint (hand file order): the open and closed targets.
    hand_open: dict[str, tuple[float, ...]]
    hand_closed: dict[str, tuple[float, ...]]
    # The grasp frame in the hand's ``eef`` body: origin, then x (along the fingers) and z (out
    # of the palm) axes.
    grasp: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]]
    base_pos: tuple[float, float, float]
    finger_kp: float = 5.0
    # GR00T's finger layout: actuated joint -> ((coupled joint, ratio), ...); None: grip only.
    fingers: dict[str, tuple[tuple[str, tuple[tuple[str, float], ...]], ...]] | None = None
    cameras: tuple[tuple[str, str], ...] = ()  # job-facing name -> camera in the robot file
    rot_weight: float = 1.0  # orientation rows of the IK relative to position (m per rad)
    hand_mass: float | None = None  # kg: rescale the hand file's masses to this total
    # The fingers at the home pose, when not the open pose (None: open).
    hand_rest: dict[str, tuple[float, ...]] | None = None
    # How the hand grasps: "palm" (a palm and curling fingers: the grasp frame's z leaves the
    # palm, x runs along the fingers) or "pinch" (a gripper's frame: z along the fingers, x
    # the closing axis).
    grip: str = "palm"
    # The grasp points' height above ``base_pos`` at the home pose (m; a test checks it against
    # the compiled scene): how high the hands start, for tasks with fixtures under them.
    home_grasp_z: float = 0.0


def _fourier_fingers(side: str) -> tuple[tuple[str, tuple[tuple[str, float], ...]], ...]:
    # Each finger's intermediate joint follows its proximal joint one to one, and the thumb's
    # distal joint its pitch: the same curl as the grip's closed pose, so a policy commanding
    # the six joints of that pose gets exactly the grip's hand.
    s = side
    return (
        *(
            (f"{s}_{f}_proximal_joint", ((f"{s}_{f}_intermediate_joint", 1.0),))
            for f in ("pinky", "ring", "middle", "index")
        ),
        (f"{s}_thumb_proximal_yaw_joint", ()),
        (f"{s}_thumb_proximal_pitch_joint", ((f"{s}_thumb_distal_joint", 1.0),)),
    )


def _gr1() -> HumanoidModel:
    arm = (
        "shoulder_pitch",
        "shoulder_roll",
        "shoulder_yaw",
        "elbow_pitch",
        "wrist_yaw",
        "wrist_roll",
        "wrist_pitch",
    )
    arm_kp = (400.0, 400.0, 200.0, 200.0, 60.0, 60.0, 60.0)
    arms = {"left": tuple(f"l_{j}" for j in arm), "right": tuple(f"r_{j}" for j in arm)}
    waist = ("torso_waist_yaw", "torso_waist_pitch", "torso_waist_roll")
    head = ("head_yaw", "head_roll", "head_pitch")
    kp = {**dict.fromkeys(waist, 2000.0), **dict.fromkeys(head, 50.0)}
    for side in HANDS:
        kp.update(zip(arms[side], arm_kp, strict=True))
    # Ready over the counter: palms down at (0.42, +-0.22, 0.36), above every fixture (the
    # microwave's top is 0.25 m) and clear of the objects, turned as the expert grasps.
    home = {"head_pitch": 0.25}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pose = (-0.359, 1.015 * sign, -0.14 * sign, -2.109, -0.356 * sign, -0.631 * sign, -0.046)
        home.update(zip(arms[side], pose, strict=True))
    # Fourier hand joints (file order): thumb yaw, thumb pitch, thumb distal, then proximal/
    # intermediate of index, middle, ring and pinky. Open is straight with the thumb rotated
    # across the palm; closed curls every finger.
    opened = (1.2, 0.0, 0.0, *(0.0,) * 8)
    closed = (1.2, 0.9, 0.9, *(1.3, 1.3) * 4)
    # The palm's centre, 3.5 cm out of it: in the ``eef`` frame the fingers extend along -y and
    # the thumb stands out along +z (the side the fingers curl to).
    grasp = ((0.0, -0.07, 0.035), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
    return HumanoidModel(
        family="gr1",
        robot=robosuite_asset("robots/gr1/robot.xml"),
        hands={
            "left": robosuite_asset("grippers/fourier_left_hand.xml"),
            "right": robosuite_asset("grippers/fourier_right_hand.xml"),
        },
        arms=arms,
        waist=waist,
        head=head,
        kp=kp,
        home=home,
        hand_open={"left": opened, "right": opened},
        hand_closed={"left": closed, "right": closed},
        grasp={"left": grasp, "right": grasp},
        # The pelvis at the counter's edge and height: both palms reach 0.35-0.65 m out.
        base_pos=(0.15, 0.0, 0.0),
        home_grasp_z=0.36,
        finger_kp=20.0,  # the hand file's finger damping (1 N m s/rad) makes kp 5 sluggish
        # The file gives every link 0.5 kg (6 kg a hand); Fourier's hand weighs about 0.5 kg.
        hand_mass=0.5,
        fingers={"left": _fourier_fingers("L"), "right": _fourier_fingers("R")},
        cameras=(
            ("head", "robotview"),
            ("wrist", "eye_in_right_hand"),
            ("left_wrist", "eye_in_left_hand"),
        ),
    )


def _g1() -> HumanoidModel:
    root = package_dir("robosuite_models") / "assets"
    arm = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow_pitch", "elbow_roll")
    arms = {"left": tuple(f"l_{j}_joint" for j in arm), "right": tuple(f"r_{j}_joint" for j in arm)}
    arm_kp = (300.0, 300.0, 150.0, 150.0, 50.0)
    kp = {"torso_joint": 1500.0}
    for side in HANDS:
        kp.update(zip(arms[side], arm_kp, strict=True))
    # Arms reaching ahead, the hands at (0.65, +-0.1, 0.25). (Its five-joint arms find the
    # microwave's door from here; from a higher ready pose the IK settles in a poor basin.)
    home = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        home.update(zip(arms[side], (-0.8, 0.15 * sign, 0.0, 0.6, 0.0), strict=True))
    # Three-finger hands (thumb rotation, thumb x2, two fingers x2): robosuite's closing
    # directions, one radian each; the thumb rotation stays at zero.
    # A pinch between the thumb (+y of the right hand's ``eef`` frame, -y of the left's) and
    # two fingers (along -z): a gripper's frame, z along the fingers, x the closing axis, the
    # origin between the finger pads.
    grasp_r = ((0.0, 0.03, -0.11), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0))
    grasp_l = ((0.0, -0.03, -0.11), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))
    return HumanoidModel(
        family="g1",
        robot=root / "robots/g1/robot.xml",
        hands={
            "left": root / "grippers/g1_three_finger_left_gripper.xml",
            "right": root / "grippers/g1_three_finger_right_gripper.xml",
        },
        arms=arms,
        waist=("torso_joint",),
        head=(),
        kp=kp,
        home=home,
        # Open wide (grip +1): the thumb turned out, the fingers bent back a little, so the
        # hand straddles a 7 cm can before it closes. At rest (home) the fingers are straight.
        hand_open={
            "left": (0.0, -0.8, 0.0, 0.3, 0.0, 0.3, 0.0),
            "right": (0.0, 0.8, 0.0, -0.3, 0.0, -0.3, 0.0),
        },
        hand_rest={"left": (0.0,) * 7, "right": (0.0,) * 7},
        hand_closed={
            "left": (0.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0),
            "right": (0.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0),
        },
        grasp={"left": grasp_l, "right": grasp_r},
        grip="pinch",
        # The pelvis at the counter's edge, just at its height (the base body is the feet).
        base_pos=(0.2, 0.0, -0.7),
        home_grasp_z=0.9475,
        finger_kp=5.0,
        rot_weight=0.1,  # 5-joint arms cannot hold every orientation: position comes first
    )


MODELS = {"gr1": _gr1, "g1": _g1}


def _load(path: Path) -> mujoco.MjSpec:
    return load_spec(path)


@cache
def _joint_ranges(path: Path) -> dict[str, tuple[float, float]]:
    """A file's joints (file order) and their ranges; parsed once per process, since every
    job's layout (and a joint-space humanoid's IK twin) asks for them."""
    spec = _load(path)  # kept alive while its joints are read (MuJoCo 3 frees it otherwise)
    return {j.name: tuple(j.range) for j in spec.joints}


def _spans(groups) -> dict[str, tuple[int, int]]:
    """``(name, names, ...)`` groups -> name: [start, stop) of their concatenation."""
    spans, start = {}, 0
    for name, names, *_ in groups:
        spans[name] = (start, start + len(names))
        start += len(names)
    return spans


def _grasp_quat(x_axis, z_axis) -> np.ndarray:
    x, z = np.asarray(x_axis, float), np.asarray(z_axis, float)
    mat = np.stack([x, np.cross(z, x), z], axis=1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.reshape(-1))
    return quat


class Humanoid(Embodiment):
    def __init__(
        self,
        model: str,
        mode: str = "joint_pos",
        hands: str = "grip",
        waist: bool = False,
        base_pos: tuple[float, float, float] | None = None,
        ik_damping: float = 0.05,
        max_delta_pos: float = 0.05,
        max_delta_rot: float = 0.3,
        max_lag: float = 0.08,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"humanoid: unknown model {model!r} ({', '.join(sorted(MODELS))})")
        if mode not in ("joint_pos", "ee_delta"):
            raise ValueError(f"humanoid: unknown action mode {mode!r} (joint_pos or ee_delta)")
        m = MODELS[model]()
        self.placed = base_pos is not None  # the user's placement: kept as it is
        if base_pos is not None:
            m = replace(m, base_pos=tuple(float(v) for v in base_pos))
        if hands not in ("grip", "fingers"):
            raise ValueError(f"embodiment.params.hands must be grip or fingers, not {hands!r}")
        if hands == "fingers" and m.fingers is None:
            raise ValueError(
                f"{model}: hands=fingers is for GR1's Fourier hands (GR00T's layout); "
                f"{model} has hands=grip only"
            )
        self.model, self.mode, self.hands, self.waist = m, mode, hands, bool(waist)
        self.name = f"{model}_{'ik' if mode == 'ee_delta' else 'joint'}"
        self.ik_damping, self.max_lag = float(ik_damping), float(max_lag)
        ranges = dict(_joint_ranges(m.robot))
        for side in HANDS:
            ranges.update(_joint_ranges(m.hands[side]))
        # The driven joints: arms, then (with fingers) the hands' actuated joints, then the
        # waist when it is in the action. joint_pos observations follow this order.
        joint_groups: dict[str, tuple[str, ...]] = {f"{s}_arm": m.arms[s] for s in HANDS}
        if hands == "fingers":
            joint_groups.update({f"{s}_hand": tuple(a for a, _ in m.fingers[s]) for s in HANDS})
        if self.waist:
            joint_groups["waist"] = m.waist
        groups: list[tuple[str, tuple[str, ...], tuple[float, ...], tuple[float, ...]]] = []
        if mode == "ee_delta":
            p, r = float(max_delta_pos), float(max_delta_rot)
            for s in HANDS:
                names = tuple(f"{s}_{a}" for a in ("dx", "dy", "dz", "drx", "dry", "drz"))
                groups.append((f"{s}_ee", names, (-p,) * 3 + (-r,) * 3, (p,) * 3 + (r,) * 3))
        else:
            for s in HANDS:
                arm = m.arms[s]
                lo, hi = zip(*(ranges[j] for j in arm), strict=True)
                groups.append((f"{s}_arm", arm, lo, hi))
        for s in HANDS:
            if hands == "fingers":
                names = joint_groups[f"{s}_hand"]
                lo, hi = zip(*(ranges[j] for j in names), strict=True)
                groups.append((f"{s}_hand", names, lo, hi))
            else:
                groups.append((f"{s}_hand", (f"{s}_grip",), (-1.0,), (1.0,)))
        if self.waist and mode == "joint_pos":
            lo, hi = zip(*(ranges[j] for j in m.waist), strict=True)
            groups.append(("waist", m.waist, lo, hi))
        self.action_groups = _spans(groups)
        self.joint_groups = _spans(joint_groups.items())
        self.hand_poses = None
        if hands == "fingers":  # the six commands of the open and closed grips (equal per hand)
            order = list(_joint_ranges(m.hands["right"]))
            act = [order.index(a) for a, _ in m.fingers["right"]]
            self.hand_poses = {
                "open": [m.hand_open["right"][i] for i in act],
                "closed": [m.hand_closed["right"][i] for i in act],
            }
        self.driven = tuple(j for names in joint_groups.values() for j in names)
        self.layout = ActionLayout(
            mode,
            tuple(n for _, names, _, _ in groups for n in names),
            tuple(v for _, _, lo, _ in groups for v in lo),
            tuple(v for _, _, _, hi in groups for v in hi),
        )
        # A joint-space humanoid still carries its IK: a task-space policy (the scripted
        # expert) drives it through the same controller as ``<robot>_ik`` (env.task_space()).
        self.task_space = (
            self
            if mode == "ee_delta"
            else Humanoid(
                model,
                "ee_delta",
                hands,
                waist,
                base_pos,
                ik_damping,
                max_delta_pos,
                max_delta_rot,
                max_lag,
            )
        )

    def info(self) -> dict[str, Any]:
        return {
            "robot": self.model.family,
            "hands": self.hands,
            "grip": self.model.grip,
            "waist": self.waist,
            "action_groups": {k: list(v) for k, v in self.action_groups.items()},
            "joint_groups": {k: list(v) for k, v in self.joint_groups.items()},
            "joint_names": list(self.driven),
            "base_pos": list(self.model.base_pos),
            **({"hand_poses": self.hand_poses} if self.hand_poses else {}),
        }

    def observations(self) -> dict[str, ArraySpec]:
        n = len(self.driven)
        obs = {"joint_pos": ArraySpec((n,)), "joint_vel": ArraySpec((n,))}
        for hand in HANDS:
            obs[f"{hand}_ee_pos"] = ArraySpec((3,))
            obs[f"{hand}_ee_quat"] = ArraySpec((4,))
        obs["hand_closure"] = ArraySpec((2,))
        return obs

    def cameras(self) -> dict[str, str]:
        return {key: PREFIX + camera for key, camera in self.model.cameras}

    def clear_fixtures(self, height: float | None) -> None:
        """Stand so that the hands' ready pose is at least ``height`` above the table (a task
        whose fixtures stand under it: the microwave under G1's hands), raising the base as a
        person would straighten up; a placement the user gave is kept."""
        m = self.model
        if height is None or self.placed or m.base_pos[2] + m.home_grasp_z >= height:
            return
        x, y, _ = m.base_pos
        self.model = replace(m, base_pos=(x, y, height - m.home_grasp_z))

    def attach(self, world: mujoco.MjSpec) -> None:
        m = self.model
        robot = _load(m.robot)
        driven = set(m.kp)
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
        # Only the arms reach the world: the trunk and head, standing at the counter, collide
        # with nothing (no contacts with the table they stand in, none to compute).
        arms = {b.name for side in HANDS for b in _subtree(robot.body(f"{side}_arm_mount"))}
        for geom in robot.geoms:
            if geom.parent.name not in arms:
                geom.contype = geom.conaffinity = 0
        _hide_sites(robot)
        for joint, kp in m.kp.items():
            _servo(robot, joint, kp, armature=0.1)
        for hand in HANDS:
            spec = _load(m.hands[hand])
            for actuator in list(spec.actuators):
                spec.delete(actuator)
            for body in spec.bodies:
                body.gravcomp = 1.0
            _robot_collisions(spec)
            _hide_sites(spec)
            if m.hand_mass is not None:
                total = sum(g.mass for g in spec.geoms if g.mass > 0)
                for geom in spec.geoms:
                    if geom.mass > 0:
                        geom.mass *= m.hand_mass / total
            for joint in spec.joints:
                _servo(spec, joint.name, m.finger_kp, armature=0.005)
            origin, x_axis, z_axis = m.grasp[hand]
            frame = _grasp_quat(x_axis, z_axis)
            spec.body("eef").add_body(name="grasp", pos=list(origin), quat=frame)
            root = spec.worldbody.first_body()
            robot.body(f"{hand}_eef").add_frame().attach_body(root, f"{hand}_gripper_", "")
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


def _subtree(body: mujoco.MjsBody) -> list[mujoco.MjsBody]:
    out, stack = [], [body]
    while stack:
        b = stack.pop()
        out.append(b)
        stack.extend(b.bodies)
    return out


def _hide_sites(spec: mujoco.MjSpec) -> None:
    # The asset files draw frame and grip markers (long translucent cylinders) into every view.
    for site in spec.sites:
        site.rgba = [0, 0, 0, 0]


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
        h, m = humanoid, humanoid.model
        self.humanoid, self.sims = h, sims
        self.ik = h.mode == "ee_delta"

        def joint_name(j: str) -> str:
            for s in HANDS:
                if any(j == a for a, _ in (m.fingers or {}).get(s, ())):
                    return f"{PREFIX}{s}_gripper_{j}"
            return PREFIX + j

        def actuator(full: str) -> int:
            rest = full[len(PREFIX) :]
            for s in HANDS:
                tag = f"{s}_gripper_"
                if rest.startswith(tag):
                    return model.actuator(f"{PREFIX}{tag}servo_{rest[len(tag) :]}").id
            return model.actuator(f"{PREFIX}servo_{rest}").id

        driven = [joint_name(j) for j in h.driven]
        self.qadr = np.array([model.joint(j).qposadr[0] for j in driven])
        self.vadr = np.array([model.joint(j).dofadr[0] for j in driven])
        # Every robot servo and its home target; the held ones (head, waist when not driven)
        # keep it for the whole episode.
        robot_joints = list(m.kp)
        self.all_ctrl = np.array([actuator(PREFIX + j) for j in robot_joints])
        self.all_qadr = np.array([model.joint(PREFIX + j).qposadr[0] for j in robot_joints])
        self.home_all = np.array([m.home.get(j, 0.0) for j in robot_joints])
        arm_joints = [PREFIX + j for s in HANDS for j in m.arms[s]]
        waist = [PREFIX + j for j in m.waist] if h.waist else []
        # Arm (and waist) joints commanded by the action or the IK, in action order.
        self.arm_ctrl = np.array([actuator(j) for j in arm_joints + waist])
        self.arm_qadr = np.array([model.joint(j).qposadr[0] for j in arm_joints + waist])
        self.arm_dofs = np.array([model.joint(j).dofadr[0] for j in arm_joints + waist])
        lo, hi = model.jnt_range[[model.joint(j).id for j in arm_joints + waist]].T
        self.q_low, self.q_high = lo, hi
        # The arm/waist part of the home pose, in chain order.
        self.home_q = np.array([m.home.get(j[len(PREFIX) :], 0.0) for j in arm_joints + waist])
        # Hands: every finger joint in file order, its servo, open/closed targets.
        self.finger_qadr, self.finger_ctrl, self.grasp_body = {}, {}, {}
        self.open, self.span, self.rest = {}, {}, {}
        self.coupling: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for s in HANDS:
            prefix = f"{PREFIX}{s}_gripper_"
            joints = [
                model.joint(j).name
                for j in range(model.njnt)
                if model.joint(j).name.startswith(prefix)
            ]
            if len(joints) != len(m.hand_open[s]):
                raise ValueError(f"{h.name}: {s} hand has {len(joints)} finger joints")
            self.finger_qadr[s] = np.array([model.joint(j).qposadr[0] for j in joints])
            self.finger_ctrl[s] = np.array([actuator(j) for j in joints])
            self.grasp_body[s] = model.body(prefix + "grasp").id
            self.open[s] = np.array(m.hand_open[s])
            self.rest[s] = np.array((m.hand_rest or m.hand_open)[s])
            self.span[s] = np.array(m.hand_closed[s]) - self.open[s]
            if h.hands == "fingers":
                # A [6, n_joints] matrix maps the six commands onto every finger joint.
                short = [j[len(prefix) :] for j in joints]
                mix = np.zeros((len(m.fingers[s]), len(joints)))
                for i, (act, coupled) in enumerate(m.fingers[s]):
                    mix[i, short.index(act)] = 1.0
                    for other, ratio in coupled:
                        mix[i, short.index(other)] = ratio
                lo_f, hi_f = model.jnt_range[[model.joint(j).id for j in joints]].T
                self.coupling[s] = (mix, (lo_f, hi_f))
        self.hand_cols = {s: slice(*h.action_groups[f"{s}_hand"]) for s in HANDS}
        # The IK, in both modes (a joint-space humanoid runs it for task-space policies).
        ts = h.task_space
        self.ee_cols = {s: slice(*ts.action_groups[f"{s}_ee"]) for s in HANDS}
        self.ts_hand_cols = {s: slice(*ts.action_groups[f"{s}_hand"]) for s in HANDS}
        lo_a, hi_a = np.array(ts.layout.low), np.array(ts.layout.high)
        self.delta_low = {s: lo_a[self.ee_cols[s]] for s in HANDS}
        self.delta_high = {s: hi_a[self.ee_cols[s]] for s in HANDS}
        # Each hand's Jacobian over the arm (and waist) dofs, from bound fields: the other
        # arm's columns are zero, as MuJoCo's are for dofs outside the hand's chain.
        self.jacobian = {
            s: ik.point_jacobian(model, sims.batch, self.grasp_body[s], self.arm_dofs)
            for s in HANDS
        }
        n = sims.nsim
        self.target_pos = {s: np.zeros((n, 3)) for s in HANDS}
        self.target_quat = {s: np.tile([1.0, 0, 0, 0], (n, 1)) for s in HANDS}
        w = m.rot_weight
        self.row_weight = np.array([1.0, 1.0, 1.0, w, w, w] * 2)
        self.n_arm_joints = sum(len(m.arms[side]) for side in HANDS)
        # The joint-space action's columns of the arm (and waist) joints, in chain order.
        waist_cols = np.arange(*h.action_groups["waist"]) if "waist" in h.action_groups else []
        self.chain_cols = np.r_[np.arange(self.n_arm_joints), waist_cols].astype(int)

    def home(self, qpos: np.ndarray, ctrl: np.ndarray) -> None:
        qpos[:, self.all_qadr] = self.home_all
        ctrl[:, self.all_ctrl] = self.home_all
        for s in HANDS:
            qpos[:, self.finger_qadr[s]] = self.rest[s]
            ctrl[:, self.finger_ctrl[s]] = self.rest[s]

    def after_reset(self, rows: np.ndarray) -> None:
        for s in HANDS:
            body = self.grasp_body[s]
            self.target_pos[s][rows] = self.sims.xpos[rows, body]
            self.target_quat[s][rows] = self.sims.xquat[rows, body]

    def task_space_targets(self, actions: np.ndarray) -> np.ndarray:
        """Joint-space actions of every simulation for task-space ``actions`` (the layout of
        ``<robot>_ik``): the IK step that embodiment would take, as joint targets."""
        chain = self._ik(actions, slice(None))  # arms, then the waist when driven
        out = np.zeros((len(actions), self.humanoid.layout.dim))
        na = self.n_arm_joints
        out[:, :na] = chain[:, :na]
        for s in HANDS:
            out[:, self.hand_cols[s]] = actions[:, self.ts_hand_cols[s]]
        if self.humanoid.waist:
            out[:, slice(*self.humanoid.action_groups["waist"])] = chain[:, na:]
        return out

    def apply(self, actions: np.ndarray, ids: np.ndarray | slice) -> None:
        ctrl = self.sims.ctrl
        if self.ik:
            targets = self._ik(actions, ids)
        else:
            targets = np.clip(actions[:, self.chain_cols], self.q_low, self.q_high)
        ctrl[_cells(ids, self.arm_ctrl)] = targets
        for s in HANDS:
            command = actions[:, self.hand_cols[s]]
            if self.coupling:
                mix, (lo, hi) = self.coupling[s]
                fingers = np.clip(command @ mix, lo, hi)
            else:
                closure = 0.5 * (1.0 - np.clip(command[:, :1], -1.0, 1.0))
                fingers = self.open[s] + closure * self.span[s]
            ctrl[_cells(ids, self.finger_ctrl[s])] = fingers

    def _ik(self, actions: np.ndarray, ids: np.ndarray | slice) -> np.ndarray:
        """Both hands' targets move by their deltas; one DLS step on the stacked Jacobian."""
        sims = self.sims
        errors, jacs = [], []
        for s in HANDS:
            body = self.grasp_body[s]
            delta = np.clip(actions[:, self.ee_cols[s]], self.delta_low[s], self.delta_high[s])
            pos, quat = sims.xpos[ids, body], sims.xquat[ids, body]
            target_pos, target_quat, error = ik.follow(
                self.target_pos[s][ids],
                self.target_quat[s][ids],
                pos,
                quat,
                delta,
                self.humanoid.max_lag,
            )
            self.target_pos[s][ids], self.target_quat[s][ids] = target_pos, target_quat
            jacs.append(self.jacobian[s](pos, ids))
            errors.append(error)
        jac = np.concatenate(jacs, axis=1) * self.row_weight[:, None]
        error = np.concatenate(errors, axis=1) * self.row_weight
        dq = ik.dls(jac, error, self.humanoid.ik_damping)
        q = sims.qpos[ids][:, self.arm_qadr]
        return np.clip(q + dq, self.q_low, self.q_high)

    def reads(self) -> list[Read]:
        sims = self.sims
        reads = [Read("joint_pos", sims.qpos, self.qadr), Read("joint_vel", sims.qvel, self.vadr)]
        for s in HANDS:
            body = self.grasp_body[s]
            reads += [Read(f"{s}_ee_pos", sims.xpos, body), Read(f"{s}_ee_quat", sims.xquat, body)]
        return reads

    def derive(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        sims = self.sims
        for i, s in enumerate(HANDS):
            q = sims.qpos[:, self.finger_qadr[s]]
            span = self.span[s]
            moving = span != 0
            frac = (q[:, moving] - self.open[s][moving]) / span[moving]
            out["hand_closure"][rows, i] = frac.mean(axis=1)
