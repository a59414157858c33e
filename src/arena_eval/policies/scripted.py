"""Scripted experts: one per task, from privileged state (object and door poses).

Each expert plans a reference end-effector trajectory (a commanded pose that moves towards
phase goals at bounded speed) and emits its increments as ``ee_delta`` actions, so the
controller's target follows the plan exactly. Because the plan is explicit, the expert can
return genuine multi-step action chunks (``chunk_length`` > 1) by rolling the plan forward.

The plans are written for one tool frame (x across the object's narrow side, z down into it:
the Franka's fingers, or a humanoid hand's grasp frame with the palm down). On a bimanual
embodiment (``left_ee``/``right_ee`` action groups) each task uses the hand that stands
nearer its work, ``HAND`` (GR1 lifts a short can with the hand on its side), and hands over
to the other at a phase where that one stands nearer (``HANDOVER``: the fridge's door); the
hand not working holds its pose, open. G1 lifts with both hands at once (``PAIR_*``): the
other hand then follows a plan of its own, phased with the working hand's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from arena_eval.geometry import (
    quat_from_mat,
    quat_from_rotvec,
    quat_mul,
    quat_to_mat,
    rotation_error,
    yaw_of,
)
from arena_eval.policies.base import Policy, PolicyError, register_policy

SPEED = 0.012  # metres per control step of the reference (0.6 m/s at 50 Hz)
TURN = 0.08  # radians per control step
OPEN, CLOSED = 1.0, -1.0
# How far below the button's resting top the grip point is sent: past the cap's 0.015 m stroke,
# so the position servo keeps pressing (the arm's target lag bounds the force).
BUTTON_PUSH = 0.02
# The hand a bimanual embodiment works with, per task: the one nearer the object or fixture.
HAND = {
    "fridge": "left",
    "kitchen_pick_and_place": "left",
    "lift_object": "right",
    "open_microwave": "left",
    "press_button": "right",
}
# Tasks where the other hand takes over at a phase: (phase, hand).
HANDOVER = {"fridge": (8, "right")}
SIDES = ("left", "right")
# How far below an object's top the grasp point goes: a parallel gripper's pads close there;
# a hand's grasp point lies 3.5 cm out of its palm, which then stands just over the top.
GRASP_DEPTH = 0.025
# Hands (bimanual embodiments): the palm's pitch for grasps (fingers this far below the
# horizontal) and against a door (fingers down into the gap), the fingers' yaw a grasp stays
# nearest (half way between ahead and across the body), and how far a fist's knuckles stand
# ahead of the grasp point when it pushes a door.
GRASP_PITCH = 0.2
# A short round can is lifted with the fingers pitched further down: they close lower round
# it and it slips less (lift, right hand, 20 episodes, pitch 0.2 / 0.4 / 0.6 / 0.8 / 1.0:
# tomato soup can 65 / 75 / 90 / 70 / 15 %; alphabet soup can 75 -> 95 % at 0.6). Carrying
# one sideways at that pitch the right hand fell short of the pick-and-place bin.
CAN_PITCH = 0.6
DOOR_PITCH = 0.5
# G1's fist on the microwave door (``_microwave_fist_goals``): how far outside the door's free
# edge it comes down (m) from how high above the door (m), how far behind the door (rad) it
# enters the gap, at what fraction of the door's width from the hinge it pushes, how far ahead
# of the door (rad) it aims, and at what fraction of the door's height. Pushing at half the
# door's height the hand sank to the table's edge with the elbow straight and the door stalled
# at ~0.75 (MuJoCo 100 % only just in time, Isaac Lab 0 %); at 0.7: 100 / 90 %; at 0.8:
# 100 / 100 % (20 / 10 episodes), the door open within ~75 steps.
FIST_OUTSIDE = 0.08
FIST_BEHIND = 0.15
FIST_RADIUS = 0.8
FIST_LEAD = 0.3
FIST_HEIGHT = 0.8
FIST_ABOVE = 0.06
FINGER_YAW = np.pi / 4
HAND_REACH = 0.03
# Where on the fridge's shelf (m left of centre) the left hand sets objects down: measured
# best over the six kitchen objects (centre: 45 % on average, 1.5 cm left: 56 %, 3 cm: 52 %).
SHELF_Y = 0.015
# And into the bin's left part (m left of its centre): the left hand, reaching across the body,
# ends its reach there (centre: 0-35 % success per kitchen object; 5 cm left: 80-95 % for the
# bottles, 0-20 % for the short cans).
BIN_Y = 0.05
# There the left hand's grasp point comes no lower than this over the counter (palm down),
# nor across the body below 0.1 m above it: a short can is carried that high and let go a few
# centimetres over the bin's floor (carried at the can's own height, the hand stalled at the
# body's middle and the can fell out: 0 % for both cans; 30 / 50 % with it).
BIN_HAND_FLOOR = 0.17
# A tall bottle the left hand lets go over the bin with its bottom this far above the walls'
# top: lowered further, the hand's reach across the body shrank and it drew the bottle back
# over the left wall, where it toppled out (ranch dressing 80 -> 90 %, bbq sauce 95 -> 100 %;
# 6 cm: ranch 90 % too; ketchup and mayonnaise 100 % either way).
BIN_DROP = 0.03
# Into the bin, the left hand closes this many steps into its descent to the grasp (its
# reference is down by then), not once its grasp point is down, and lifts at full speed: over
# a short can the fingers stopped some 2 cm above the grasp point and pushed the can 4-5 cm
# aside for the 60 steps the descent waited (20 episodes, waiting / 20 steps: alphabet soup
# can 25 -> 60 %, tomato sauce can 45 -> 50 %, ranch dressing 90 -> 100 %).
BIN_GRASP_WAIT = 20
# And it lets go of a short can once the can's centre stands this far inside the bin's walls
# (as far as the task counts it in), rather than carrying it on: the left hand's reach across
# the body crawls towards the bin's left part and leaves the can's centre 2.5-3 cm inside at
# most, where it hung, or was lowered and drawn back over the left wall (20 episodes, seeds
# 0 / 1, alphabet soup and tomato sauce cans: carried on 60 / 50 % at seed 0; 1 cm inside
# 65 / 95 and 65 / 85 %, 1.5 cm 75 / 100 and 85 / 95 %, 2 cm 95 / 90 and 90 / 95 %, 2.5 cm
# 95 / 100 and 90 / 90 %, 3 cm 65 / 75 and 65 / 60 %). With it, closing 15 / 20 / 25 / 30
# steps into the descent (``BIN_GRASP_WAIT``) does about as well: 85-100 % per can and seed.
BIN_INSIDE = 0.02
# A palm hand's top grasp (GR1's): the palm stands just over the object's top (the grasp
# point lies 3.5 cm out of the palm, ``GRASP_DEPTH`` below the top), and the object's centre
# sits off the grasp point in the hand's frame: along the fingers, so that the object's near
# face stands just ahead of the thumb (which hangs from the palm ``THUMB_FACE`` behind the
# grasp point); and ``PALM_ACROSS`` over towards the thumb's side. The thumb and the finger
# pads then close on opposite faces through the object's centre line, so the object hangs
# upright from them. Centred on the grasp point instead, the pads held it off its axis and it
# swung 15-35 degrees while carried, then toppled when set down, and the thumb landed on a
# can's top (fridge, 20 episodes: mayonnaise 30 % centred, 70 % 3 cm towards the thumb,
# 100 % also with its near face at the thumb; tomato sauce can 45 -> 90 %). The palm resting
# on the top (``PALM_ON_TOP``: 3.5 cm deep, as far as the grasp point stands out of the palm)
# holds a short can better (fridge, alphabet soup can: 85 % against 70 %) and is used where
# the hand reaches low enough, the fridge; over the bin it cost the left hand its reach
# (pick-and-place, ranch dressing: 15 % against 75 %).
PALM_ON_TOP = 0.035
THUMB_FACE = -0.039
PALM_ACROSS = 0.03
# A tall round bottle slid out of the grasp that far across (fridge, ranch dressing: 15 % at
# 3 cm, 15 % at 2.2 cm, 100 % at 1.5 cm), while a short can held best there (alphabet soup
# can: 85 / 60 / 55 %): round objects taller than ``TALL`` sit nearer the palm's middle.
PALM_ACROSS_TALL_ROUND = 0.015
TALL = 0.15
NARROW = 0.05  # lift_object: a box this narrow is grasped on its centre (see _lift_goals)
# G1 lifts an object with both hands (its pinch, level on five-joint arms, held only narrow
# ones, and only 10-55 % of the bottles and the drill): the hands, closed to fists (the curled
# fingers face the object; open, the thumb swings back and only 5 % were lifted), spread
# ``PAIR_CLEAR`` out of the pair of side faces nearest the body's y axis, come down ahead of
# the object to its middle height, move in over it, are driven ``PAIR_SQUEEZE`` past its faces
# for ``PAIR_SQUEEZE_STEPS`` steps (the arms' servo stiffness makes the clamping force), and
# lift together at ``PAIR_LIFT_SPEED``, coming forward to ``PAIR_LIFT_X``: nearer the body the
# arms stalled with the object 7 cm up (lift, 20 episodes, cracker box: 85 % without it, 100 %
# with it; see docs/performance.md).
PAIR_FIST = 0.035  # the curled fingers' inner side, out of the grasp point across the hand
PAIR_AHEAD = 0.03  # the grasp point this far ahead of the object's centre: the fingers curl back
PAIR_CLEAR = 0.06
PAIR_SQUEEZE = 0.03
PAIR_SQUEEZE_STEPS = 20
PAIR_LIFT = 0.22
PAIR_LIFT_SPEED = 0.004  # metres per control step (0.2 m/s)
PAIR_LIFT_X = 0.55


def down_quat(yaw: np.ndarray) -> np.ndarray:
    """Gripper pointing down, fingers closing along the world direction ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    zeros = np.zeros_like(yaw)
    x = np.stack([c, s, zeros], -1)
    y = np.stack([s, -c, zeros], -1)
    z = np.stack([zeros, zeros, -np.ones_like(yaw)], -1)
    return quat_from_mat(np.stack([x, y, z], -1))


def door_hand_quat(phi: np.ndarray) -> np.ndarray:
    """A hand flat against a door at hinge angle ``phi``: fingers pointing down, the palm
    facing along the normal of the door's inner face (its back against that face)."""
    n = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], -1)  # the inner face's normal
    x = np.broadcast_to(np.array([0.0, 0.0, -1.0]), n.shape)
    z = n
    y = np.cross(z, x)
    return quat_from_mat(np.stack([x, y, z], -1))


def nearest_equivalent(angle: np.ndarray, reference: np.ndarray, period: float) -> np.ndarray:
    return angle + period * np.round((reference - angle) / period)


@dataclasses.dataclass
class Plan:
    """Per-env planner state; row i belongs to env i."""

    pos: np.ndarray  # commanded position [n, 3]
    quat: np.ndarray  # commanded orientation [n, 4]
    phase: np.ndarray  # [n] int
    timer: np.ndarray  # [n] int, steps spent in the phase
    fresh: np.ndarray  # [n] bool, re-latch the plan from the measured pose

    def copy(self) -> Plan:
        return Plan(*(np.copy(getattr(self, f.name)) for f in dataclasses.fields(self)))


@register_policy("scripted")
class ScriptedExpert(Policy):
    @dataclasses.dataclass
    class Config:
        chunk_length: int = 1

    # It plans end-effector motions; a joint-space humanoid runs them through its own IK.
    action_mode = "ee_delta"

    def __init__(self, config: Config, spec) -> None:
        super().__init__(config, spec)
        if spec.action_mode != "ee_delta":
            raise PolicyError(
                f"the scripted expert drives end-effector embodiments; {spec.embodiment!r} takes "
                f"{spec.action_mode} actions and has no IK to plan through here. Use an IK "
                f"embodiment (franka_ik, gr1_ik, g1_ik); a humanoid's joint space (gr1_joint, "
                f"g1_joint) works in a local job, which runs the IK in its simulator."
            )
        goals = {
            "fridge": self._fridge_goals,
            "kitchen_pick_and_place": self._pick_place_goals,
            "lift_object": self._lift_goals,
            "open_microwave": self._microwave_goals,
            "press_button": self._button_goals,
        }
        if spec.task not in goals:
            raise PolicyError(
                f"no scripted expert for env {spec.task!r}; experts exist for: {', '.join(goals)}"
            )
        self._goals = goals[spec.task]
        groups = spec.embodiment_info.get("action_groups", {})
        self.bimanual = "right_ee" in groups
        # A palm hand (GR1's) grasps palm-down; a pinch hand (G1's) or a gripper fingers-down.
        self.palm = self.bimanual and spec.embodiment_info.get("grip", "palm") == "palm"
        n = spec.num_envs
        self._handover = None
        if self.bimanual:
            self._ee_cols = [slice(*groups[f"{side}_ee"]) for side in SIDES]
            self._grip_cols = [slice(*groups[f"{side}_hand"]) for side in SIDES]
            poses = spec.embodiment_info.get("hand_poses")  # finger joints: open/closed poses
            self._hand_open = np.asarray(poses["open"]) if poses else np.array([OPEN])
            self._hand_closed = np.asarray(poses["closed"]) if poses else np.array([CLOSED])
            self._first_hand = SIDES.index(HAND[spec.task])
            self._handover = HANDOVER.get(spec.task)
        # Per env: the hand that works now (0 left, 1 right); a one-arm tool has only one.
        self.hand_of = np.full(n, self._first_hand if self.bimanual else 0, dtype=int)
        # A pinch hand lifts with both hands (``PAIR_*``): the other hand follows a plan of its
        # own, ``other``, phased with ``plan``.
        self.pair = self.bimanual and not self.palm and spec.task == "lift_object"
        if self.pair:
            self._other_side = SIDES[1 - self._first_hand]
            self.other = Plan(
                np.zeros((n, 3)), np.tile([1.0, 0, 0, 0], (n, 1)), *np.zeros((3, n), int)
            )
        self.chunk_length = max(1, int(config.chunk_length))
        self.plan = Plan(
            np.zeros((n, 3)),
            np.tile([1.0, 0, 0, 0], (n, 1)),
            np.zeros(n, int),
            np.zeros(n, int),
            np.ones(n, bool),
        )
        low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
        if self.bimanual:  # the plan's tool actions: a hand's delta pose and its grip
            ee = self._ee_cols[0]
            low = np.r_[low[ee], CLOSED]
            high = np.r_[high[ee], OPEN]
        self._low, self._high = low, high

    def reset(self, env_ids=None) -> None:
        ids = slice(None) if env_ids is None else np.asarray(env_ids, dtype=int)
        self.plan.fresh[ids] = True

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        rows = np.arange(self.spec.num_envs)
        return self._to_layout(self._plan_steps(obs, rows, 1))[:, 0]

    def get_action_chunk(self, obs: Mapping[str, np.ndarray], env_ids: np.ndarray) -> np.ndarray:
        rows = np.asarray(env_ids, dtype=int)
        return self._to_layout(self._plan_steps(obs, rows, self.chunk_length))

    def _tool_view(self, obs: Mapping[str, np.ndarray], rows: np.ndarray) -> dict:
        """The observations as a one-tool plan reads them: each env's working hand as ee_*."""
        view = dict(obs)
        if self.bimanual:
            right = (self.hand_of[rows] == 1)[:, None]
            for key in ("ee_pos", "ee_quat"):
                view[key] = np.where(right, obs[f"right_{key}"], obs[f"left_{key}"])
        return view

    def _to_layout(self, plan: np.ndarray) -> np.ndarray:
        """``[n, steps, 7]`` tool actions (delta pose, grip) into the embodiment's layout: the
        hand that worked at each step (``_step_hands``) moves, the other holds its pose, open."""
        if not self.bimanual:
            return plan
        n, steps = plan.shape[:2]
        out = np.zeros((n, steps, self.spec.action_dim), dtype=np.float32)
        closure = 0.5 * (1.0 - plan[:, :, 6:7])  # grip -1 closed .. 1 open -> 1 .. 0
        grip = self._hand_open + closure * (self._hand_closed - self._hand_open)
        for side in (0, 1):
            works = self._step_hands == side  # [n, steps]: a chunk may hand over midway
            out[:, :, self._grip_cols[side]] = self._hand_open
            out[:, :, self._ee_cols[side]][works] = plan[:, :, :6][works]
            out[:, :, self._grip_cols[side]][works] = grip[works]
        if self.pair:  # the other hand moves too, on its own plan
            side = SIDES.index(self._other_side)
            closure = 0.5 * (1.0 - self._other_out[:, :, 6:7])
            out[:, :, self._ee_cols[side]] = self._other_out[:, :, :6]
            out[:, :, self._grip_cols[side]] = self._hand_open + closure * (
                self._hand_closed - self._hand_open
            )
        return out

    # -- planning ----------------------------------------------------------------------
    def _plan_steps(
        self, obs: Mapping[str, np.ndarray], rows: np.ndarray, steps: int
    ) -> np.ndarray:
        """Roll the plan of envs ``rows`` forward ``steps`` control steps; obs rows match."""
        plan = self.plan
        fresh = plan.fresh[rows]
        if fresh.any() and self.bimanual:
            self.hand_of[rows[fresh]] = self._first_hand
            if self.palm and self.spec.task == "lift_object":
                # A short round can is lifted by the hand on its side of the body's middle:
                # the right hand reaching past it stopped 1-2 cm short and its fingers landed
                # on the can's rim (20 episodes, right hand / nearer hand: tomato soup can
                # 90 / 100 %, tomato sauce can 65 / 85 %; the others lift best with the
                # right hand: power drill 85 / 70 %, sugar box 90 / 85 %).
                size = obs["object_size"][fresh]
                can = np.isclose(size[:, 0], size[:, 1]) & (size[:, 2] <= TALL)
                base_y = self.spec.embodiment_info.get("base_pos", (0.0, 0.0, 0.0))[1]
                left = can & (obs["object_pos"][fresh, 1] > base_y)
                self.hand_of[rows[fresh]] = np.where(left, 0, self._first_hand)
        if fresh.any() and self.pair:
            self.other.pos[rows[fresh]] = obs[f"{self._other_side}_ee_pos"][fresh]
            self.other.quat[rows[fresh]] = obs[f"{self._other_side}_ee_quat"][fresh]
        if self.pair:
            other_ee = np.asarray(obs[f"{self._other_side}_ee_pos"], dtype=np.float64)
            self._other_out = np.zeros((len(rows), steps, 7), dtype=np.float32)
        obs = self._tool_view(obs, rows)
        if fresh.any():
            sel = rows[fresh]
            plan.pos[sel] = obs["ee_pos"][fresh]
            plan.quat[sel] = obs["ee_quat"][fresh]
            plan.phase[sel] = 0
            plan.timer[sel] = 0
            plan.fresh[sel] = False
        ee = np.asarray(obs["ee_pos"], dtype=np.float64)
        out = np.zeros((len(rows), steps, 7), dtype=np.float32)
        self._step_hands = np.repeat(self.hand_of[rows][:, None], steps, axis=1)
        for k in range(steps):
            self._step_hands[:, k] = self.hand_of[rows]
            # After the first step, the plan predicts that the hand follows the reference.
            measured = ee if k == 0 else plan.pos[rows]
            if self.pair:
                self._other_measured = other_ee if k == 0 else self.other.pos[rows]
            goal_pos, goal_quat, gripper, advance = self._goals(obs, rows, measured)
            if self.pair:  # ``_pair_lift_goals`` left the other hand's goal
                self._other_out[:, k] = self._step_other(rows, *self._other_goal)
            plan.phase[rows] += advance
            plan.timer[rows] = np.where(advance, 0, plan.timer[rows] + 1)
            step = np.clip(goal_pos - plan.pos[rows], -SPEED, SPEED)
            turn = rotation_error(goal_quat, plan.quat[rows])
            norm = np.linalg.norm(turn, axis=1, keepdims=True)
            turn *= np.minimum(1.0, TURN / np.maximum(norm, 1e-9))
            if self._handover is not None:
                # The other hand takes over: the plan continues from where that hand is.
                phase_at, side = self._handover
                swap = (advance > 0) & (plan.phase[rows] == phase_at)
                if swap.any():
                    sel = rows[swap]
                    self.hand_of[sel] = SIDES.index(side)
                    plan.pos[sel] = obs[f"{side}_ee_pos"][swap]
                    plan.quat[sel] = obs[f"{side}_ee_quat"][swap]
                    step[swap], turn[swap] = 0.0, 0.0
            plan.pos[rows] += step
            plan.quat[rows] = quat_mul(quat_from_rotvec(turn), plan.quat[rows])
            action = np.concatenate([step, turn, gripper[:, None]], axis=1)
            out[:, k] = np.clip(action, self._low, self._high)
        return out

    def _step_other(self, rows, goal_pos, goal_quat, gripper) -> np.ndarray:
        """One step of the other hand's plan towards its goal, as a tool action."""
        other = self.other
        step = np.clip(goal_pos - other.pos[rows], -SPEED, SPEED)
        turn = rotation_error(goal_quat, other.quat[rows])
        norm = np.linalg.norm(turn, axis=1, keepdims=True)
        turn *= np.minimum(1.0, TURN / np.maximum(norm, 1e-9))
        other.pos[rows] += step
        other.quat[rows] = quat_mul(quat_from_rotvec(turn), other.quat[rows])
        return np.clip(np.concatenate([step, turn, gripper[:, None]], 1), self._low, self._high)

    @staticmethod
    def _pair_axis(obs) -> tuple[np.ndarray, np.ndarray]:
        """The normal of the object's pair of side faces nearest the world's y axis (pointing
        to +y, the left hand's side), and the object's width along it."""
        yaw = yaw_of(obs["object_quat"].astype(np.float64))
        size = obs["object_size"].astype(np.float64)
        x_axis = np.stack([np.cos(yaw), np.sin(yaw)], -1)
        y_axis = np.stack([-np.sin(yaw), np.cos(yaw)], -1)
        use_y = np.abs(y_axis[:, 1]) >= np.abs(x_axis[:, 1])
        axis = np.where(use_y[:, None], y_axis, x_axis)
        axis *= np.where(axis[:, 1] < 0, -1.0, 1.0)[:, None]
        return axis, np.where(use_y, size[:, 1], size[:, 0])

    def _down(self, yaw: np.ndarray, pitch=GRASP_PITCH) -> np.ndarray:
        """The tool pointing down with its x axis along ``yaw``; a hand's palm pitched so its
        fingers point ``pitch`` (one, or one per row) below the horizontal, as a hand reaching
        over a counter holds them."""
        quat = down_quat(yaw)
        return self._pitched(quat, pitch) if self.palm else quat

    @staticmethod
    def _pitched(quat: np.ndarray, pitch) -> np.ndarray:
        """``quat`` turned by ``pitch`` (one, or one per row) about its own y axis, x (the
        fingers) towards +z."""
        half = np.broadcast_to(np.asarray(pitch, dtype=np.float64) / 2, quat.shape[:-1])
        zero = np.zeros_like(half)
        return quat_mul(quat, np.stack([np.cos(half), zero, -np.sin(half), zero], axis=-1))

    def _aligned(self, quat: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Whether the plan's orientation has reached ``quat`` (always, for a gripper that
        starts pointing down): a hand turns from its ready pose before it goes down."""
        if not self.bimanual:
            return np.ones(len(rows), bool)
        return np.linalg.norm(rotation_error(quat, self.plan.quat[rows]), axis=1) < 0.05

    def _finger_yaw(self, rows: np.ndarray) -> np.ndarray:
        """The yaw a grasp keeps closest to: the tool's current one (a parallel gripper is
        symmetric), or straight ahead for a hand, whose fingers never point back at the body."""
        if self.bimanual:  # half way between ahead and across the body
            return np.where(self.hand_of[rows] == 0, -1.0, 1.0) * FINGER_YAW
        x_axis = quat_to_mat(self.plan.quat[rows])[:, :, 0]
        return np.arctan2(x_axis[:, 1], x_axis[:, 0])

    def _grasp_xy(
        self, obj_xy: np.ndarray, size: np.ndarray, quat: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """Where the grasp point goes over an object at ``obj_xy`` of extents ``size`` (the
        fingers run across its narrower side): on it, or for a palm hand offset so the
        object's centre lies where ``THUMB_FACE`` and ``PALM_ACROSS`` say in the hand's frame
        ``quat``."""
        if not self.palm:
            return obj_xy
        axes = quat_to_mat(quat)
        # The thumb stands on the left hand's +y side of its grasp frame, the right hand's -y.
        thumb = np.where(self.hand_of[rows] == 0, 1.0, -1.0)[:, None]
        along = (THUMB_FACE + np.min(size[:, :2], axis=1) / 2)[:, None]
        round_ = np.isclose(size[:, 0], size[:, 1])  # the catalog's cylinders: d x d x h
        across = np.where(round_ & (size[:, 2] > TALL), PALM_ACROSS_TALL_ROUND, PALM_ACROSS)
        return obj_xy - along * axes[:, :2, 0] - (across[:, None] * thumb) * axes[:, :2, 1]

    def _lift_goals(self, obs, rows, ee):
        if self.pair:
            return self._pair_lift_goals(obs, rows, ee)
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        obj, size = obs["object_pos"].astype(np.float64), obs["object_size"].astype(np.float64)
        top = obj[:, 2] + size[:, 2] / 2
        # Close across the narrower side: the object's x axis, or y when y is narrower.
        yaw = yaw_of(obs["object_quat"].astype(np.float64)) + np.where(
            size[:, 1] < size[:, 0], np.pi / 2, 0.0
        )
        yaw = nearest_equivalent(yaw, self._finger_yaw(rows), np.pi)
        grasp_z = np.maximum(top - GRASP_DEPTH, 0.02)
        # The right hand lifts a box or a tall bottle off the grasp point as it carries one,
        # but a short round can, or a box narrower than ``NARROW``, on it (lift, 20 episodes,
        # on it / off it: tomato soup 60 / 35 %, alphabet soup 75 / 30 %, power drill 85 /
        # 70 %, sugar box 90 / 70 %; ranch dressing 85 / 95 %, cracker box 90 / 100 %); a
        # short round can with the fingers pitched down ``CAN_PITCH``.
        can = np.isclose(size[:, 0], size[:, 1]) & (size[:, 2] <= TALL)
        quat = self._down(yaw, np.where(can, CAN_PITCH, GRASP_PITCH))
        narrow = np.min(size[:, :2], axis=1) < NARROW
        grasp_xy = np.where(
            (can | narrow)[:, None],
            obj[:, :2],
            self._grasp_xy(obj[:, :2], size, quat, rows),
        )
        above = np.concatenate([grasp_xy, (top + 0.08)[:, None]], axis=1)
        grasp = np.concatenate([grasp_xy, grasp_z[:, None]], axis=1)
        # Lift relative to the rest height, not the (rising) object: a fixed goal.
        rest_grasp_z = self.spec.task_info.get("table_top", 0.0) + size[:, 2] - GRASP_DEPTH
        lift = np.concatenate([obj[:, :2], (rest_grasp_z + 0.22)[:, None]], axis=1)
        goal = np.select([phase[:, None] == 0, phase[:, None] == 1], [above, grasp], lift)
        # Once grasped, hold the commanded xy where the grasp happened.
        holding = phase >= 2
        goal[holding, :2] = plan.pos[rows][holding, :2]
        goal[phase == 2] = plan.pos[rows][phase == 2]
        err = np.linalg.norm(ee - goal, axis=1)
        advance = (
            ((phase == 0) & (err < 0.015) & (timer > 5) & self._aligned(quat, rows))
            | ((phase == 1) & ((err < 0.008) | (timer > 60)))
            | ((phase == 2) & (timer >= 15))
        ).astype(int)
        gripper = np.where(phase >= 2, CLOSED, OPEN)
        return goal, quat, gripper, advance

    def _pair_lift_goals(self, obs, rows, ee):
        """Both hands (``PAIR_*``): spread either side of the object, down ahead of it, in over
        it, squeezed in past its faces, and lifted together. The working hand's goal is
        returned; the other hand's is left in ``_other_goal``."""
        plan, other = self.plan, self.other
        phase, timer = plan.phase[rows], plan.timer[rows]
        obj, size = obs["object_pos"].astype(np.float64), obs["object_size"].astype(np.float64)
        axis, width = self._pair_axis(obs)
        hold_z = self.spec.task_info.get("table_top", 0.0) + size[:, 2] / 2
        # The working hand (the right) on the -y face, the other on the +y face.
        sign = np.where(self.hand_of[rows] == 1, -1.0, 1.0)[:, None]
        reach = width / 2 + PAIR_FIST + np.where(phase >= 3, -PAIR_SQUEEZE, PAIR_CLEAR)
        centre = obj[:, :2] + np.array([PAIR_AHEAD, 0.0])
        goal = np.column_stack([centre + sign * reach[:, None] * axis, hold_z])
        other_goal = np.column_stack([centre - sign * reach[:, None] * axis, hold_z])
        lift_z = np.minimum(hold_z + PAIR_LIFT, hold_z + PAIR_LIFT_SPEED * timer)
        mid_x = 0.5 * (plan.pos[rows, 0] + other.pos[rows, 0])
        forward = np.clip(PAIR_LIFT_X - mid_x, 0.0, PAIR_LIFT_SPEED)  # the pair moves as one
        lifting = phase >= 4
        for g, p in ((goal, plan), (other_goal, other)):
            g[phase <= 1, 0] = p.pos[rows][phase <= 1, 0]  # phase 0 spreads, 1 goes down
            g[phase == 0, 2] = p.pos[rows][phase == 0, 2]
            g[lifting, :2] = p.pos[rows][lifting, :2] + np.c_[forward, 0 * forward][lifting]
            g[lifting, 2] = lift_z[lifting]
        err = np.maximum(
            np.linalg.norm(ee - goal, axis=1),
            np.linalg.norm(self._other_measured - other_goal, axis=1),
        )
        reached = ((err < 0.02) & (timer > 5)) | (timer > 60)
        advance = (
            ((phase <= 2) & reached) | ((phase == 3) & (timer >= PAIR_SQUEEZE_STEPS))
        ).astype(int)
        grip = np.full(len(rows), CLOSED)
        quat = plan.quat[rows].copy()  # five-joint arms: each hand keeps its orientation
        self._other_goal = (other_goal, other.quat[rows].copy(), grip)
        return goal, quat, grip, advance

    def _door(self, obs, rows):
        """The door's layout and state as a door plan reads them: (phase, timer, hinge
        position, width, height, hinge angle)."""
        info = self.spec.task_info
        phase, timer = self.plan.phase[rows], self.plan.timer[rows]
        hinge = np.asarray(info["hinge_pos"], dtype=np.float64)
        angle = obs["door_openness"][:, 0].astype(np.float64) * info["door_range"]
        return phase, timer, hinge, info["door_width"], info["door_height"], angle

    def _microwave_goals(self, obs, rows, ee):
        if self.bimanual and not self.palm:
            return self._microwave_fist_goals(obs, rows, ee)
        phase, timer, hinge, width, height, angle = self._door(obs, rows)
        radius, inset = 0.72 * width, 0.035
        lead = np.where(phase >= 2, 0.3, 0.06)
        phi = np.minimum(angle + lead, 1.55)
        point = np.stack(
            [
                hinge[0] - radius * np.sin(phi) + inset * np.cos(phi),
                hinge[1] + radius * np.cos(phi) + inset * np.sin(phi),
                np.zeros_like(phi),
            ],
            axis=1,
        )
        push_z, above_z = hinge[2] + height - 0.03, hinge[2] + height + 0.08
        point[:, 2] = np.where(phase == 0, above_z, push_z)
        err = np.linalg.norm(ee - point, axis=1)
        if self.palm:  # a hand: flat, fingers down into the gap, its back on the door
            quat = self._pitched(door_hand_quat(phi), DOOR_PITCH)
        else:
            quat = down_quat(np.full(len(rows), np.pi / 2))
        advance = (
            ((phase == 0) & (err < 0.012) & (timer > 5) & self._aligned(quat, rows))
            | ((phase == 1) & ((err < 0.01) | (timer > 60)))
        ).astype(int)
        grip = np.full(len(rows), OPEN if self.palm else CLOSED)
        return point, quat, grip, advance

    def _microwave_fist_goals(self, obs, rows, ee):
        """A pinch hand on a five-joint arm (G1's) opens the door with its fist from the side,
        near the door's top: 0 over a point beside the door's free edge, outside it and above
        the door; 1 down to the pushing height there; 2 into the gap between the door
        and the cabinet; 3 round the hinge, the fist ahead of the door's inner face, so the
        door swings open before it. The hand's orientation is left as it is (the IK only
        places the fist: a five-joint arm cannot also turn it freely)."""
        phase, timer, hinge, width, height, angle = self._door(obs, rows)
        outside = phase <= 1
        radius = np.where(outside, width + FIST_OUTSIDE, FIST_RADIUS * width)
        phi = np.where(phase <= 2, angle - FIST_BEHIND, np.minimum(angle + FIST_LEAD, 1.55))
        z = np.where(phase == 0, height + FIST_ABOVE, FIST_HEIGHT * height) + hinge[2]
        point = np.stack(
            [hinge[0] - radius * np.sin(phi), hinge[1] + radius * np.cos(phi), z], axis=1
        )
        err = np.linalg.norm(ee - point, axis=1)
        advance = (
            ((phase == 0) & (err < 0.03) & (timer > 5))
            | ((phase == 1) & (err < 0.02))
            | ((phase == 2) & ((err < 0.015) | (timer > 60)))
        ).astype(int)
        quat = np.asarray(obs["ee_quat"], dtype=np.float64).copy()
        return point, quat, np.full(len(rows), CLOSED), advance

    def _button_goals(self, obs, rows, ee):
        # Above the cap with the fingers closed, then down past the cap's top: the position
        # servo presses the spring and holds it until the env ends the episode on success.
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        top = obs["button_pos"].astype(np.float64)
        above = top + np.array([0.0, 0.0, 0.08])
        press = top - np.array([0.0, 0.0, BUTTON_PUSH])
        goal = np.where(phase[:, None] == 0, above, press)
        err = np.linalg.norm(ee - goal, axis=1)
        yaw = nearest_equivalent(np.full(len(rows), np.pi / 2), self._finger_yaw(rows), np.pi)
        quat = self._down(yaw)
        advance = (phase == 0) & (err < 0.01) & (timer > 5) & self._aligned(quat, rows)
        return goal, quat, np.full(len(rows), CLOSED), advance.astype(int)

    def _place_goals(
        self,
        obs,
        rows,
        ee,
        place_xy,
        place_top,
        clear_z,
        hand_floor=None,
        depth=GRASP_DEPTH,
        grasp_wait=None,
        release=None,
    ):
        """Phases 0-7 of carrying the object onto a surface: 0 above the object, 1 down to the
        grasp, 2 close, 3 lift until its bottom clears ``clear_z``, 4 over ``place_xy``, 5 lower
        until its bottom is just above ``place_top``, 6 release, 7 up. Later phases hold the
        plan (a caller may give them goals). ``hand_floor``: the lowest height the grasp point
        reaches over ``place_xy``; the object is carried 0.1 m above it and let go from there
        when its bottom cannot come lower. ``depth``: how far below the object's top the grasp
        point goes. ``grasp_wait``: close this many steps into the descent and lift at full
        speed. ``release``: per row, whether to let the object go now, from the carry or the
        lowering (phases 4-5). Returns goal, quat, gripper, advance."""
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        obj, size = obs["object_pos"].astype(np.float64), obs["object_size"].astype(np.float64)
        top = obj[:, 2] + size[:, 2] / 2
        grasp_below_top = np.minimum(depth, size[:, 2] - 0.02)
        carry_z = clear_z + 0.05 + size[:, 2] - grasp_below_top
        place = np.column_stack([place_xy, place_top + size[:, 2] - grasp_below_top + 0.005])
        if hand_floor is not None:
            carry_z = np.maximum(carry_z, hand_floor + 0.1)
            place[:, 2] = np.maximum(place[:, 2], hand_floor)
        # Fingers across the object's narrower side, kept as grasped until it is released.
        yaw = yaw_of(obs["object_quat"].astype(np.float64)) + np.where(
            size[:, 1] < size[:, 0], np.pi / 2, 0.0
        )
        quat = self._down(nearest_equivalent(yaw, self._finger_yaw(rows), np.pi))
        grasp_xy = self._grasp_xy(obj[:, :2], size, quat, rows)
        goal = np.array(plan.pos[rows])
        goal[phase == 0] = np.column_stack([grasp_xy, top + 0.08])[phase == 0]
        goal[phase == 1] = np.column_stack([grasp_xy, top - grasp_below_top])[phase == 1]
        goal[phase == 3, 2] = carry_z[phase == 3]
        goal[phase == 4] = np.column_stack([place[:, :2], carry_z])[phase == 4]
        goal[phase == 5] = place[phase == 5]
        goal[phase == 7, 2] = (clear_z + 0.10 + size[:, 2])[phase == 7]
        err = np.linalg.norm(ee - goal, axis=1)
        xy_err = np.linalg.norm(ee[:, :2] - goal[:, :2], axis=1)
        # Descend to the grasp and carry at half speed: a fast descent swings the open fingers
        # onto a small can's rim, and a fast carry lets a round can slip out of the grasp.
        slow = (phase == 1) | ((phase >= 3) & (phase <= 5))
        if grasp_wait is not None:
            slow &= phase != 3  # closed early, the hand lifts at full speed
        cur = plan.pos[rows]
        goal[slow] = (cur + np.clip(goal - cur, -SPEED / 2, SPEED / 2))[slow]

        carrying = (phase >= 2) & (phase <= 7)
        quat[carrying] = plan.quat[rows][carrying]
        aligned = self._aligned(quat, rows)
        advance = (
            # Small cans leave the open fingers a few millimetres: settle over the object first.
            ((phase == 0) & (err < 0.015) & (xy_err < 0.004) & (timer > 5) & aligned)
            | ((phase == 0) & (timer > 60))
            | ((phase == 1) & ((err < 0.008) | (timer > 60)))
            | ((phase == 2) & (timer >= 15))
            | (((phase == 3) | (phase == 4) | (phase == 7)) & (err < 0.015))
            | ((phase == 5) & ((err < 0.008) | (timer > 40)))
            | ((phase == 6) & (timer >= 12))
            # A hand may not reach the plan's height over a far surface: once well clear of
            # the object it set down, the next phase can start.
            | ((phase == 7) & (timer > 40) & self.palm)
        ).astype(int)
        if grasp_wait is not None:
            advance[(phase == 1) & (timer >= grasp_wait)] = 1
        if release is not None:  # straight to the release
            now = release & ((phase == 4) | (phase == 5))
            advance[now] = 6 - phase[now]
        gripper = np.where((phase >= 2) & (phase <= 5), CLOSED, OPEN)
        return goal, quat, gripper, advance

    def _pick_place_goals(self, obs, rows, ee):
        # Into the bin: the carry clears its walls, the object is set down on its floor.
        info = self.spec.task_info
        n = len(rows)
        bin_xy = np.tile(np.asarray(info["bin_pos"][:2], dtype=np.float64), (n, 1))
        floor = None
        if self.palm:  # the bin's left part: the left hand's reach across the body ends there
            bin_xy[:, 1] += BIN_Y
            floor = info["table_top"] + BIN_HAND_FLOOR
        clear_z = info["table_top"] + info["wall_height"]
        place_top = np.full(n, info["bin_floor_top"])
        if not self.palm:
            return self._place_goals(obs, rows, ee, bin_xy, place_top, clear_z)
        # A tall object is let go as it clears the walls (see ``BIN_DROP``), a short one once
        # inside them (``BIN_INSIDE``).
        tall = obs["object_size"][:, 2] > TALL
        place_top[tall] = clear_z + BIN_DROP
        half = np.asarray(info["bin_size"], dtype=np.float64) / 2 - BIN_INSIDE
        offset = np.abs(obs["object_pos"][:, :2] - np.asarray(info["bin_pos"][:2]))
        inside = ~tall & np.all(offset < half, axis=1)
        return self._place_goals(
            obs,
            rows,
            ee,
            bin_xy,
            place_top,
            clear_z,
            floor,
            grasp_wait=BIN_GRASP_WAIT,
            release=inside,
        )

    def _fridge_goals(self, obs, rows, ee):
        # 0-7 carry the object onto the shelf over the fridge's walls (``_place_goals``), then
        # 8 over the door's outer face, 9 down beside it, 10 push it shut along its arc.
        info = self.spec.task_info
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        n = len(rows)
        hinge = np.asarray(info["hinge_pos"], dtype=np.float64)
        width, height = info["door_width"], info["door_height"]
        shelf_xy = np.tile([hinge[0] + info["cabinet_depth"] / 2, hinge[1] + width / 2], (n, 1))
        if self.palm:  # the left hand sets objects down a little left of centre (see SHELF_Y)
            shelf_xy[:, 1] += SHELF_Y
        depth = PALM_ON_TOP if self.palm else GRASP_DEPTH  # the shelf is in reach: hold firmly
        goal, quat, gripper, advance = self._place_goals(
            obs, rows, ee, shelf_xy, info["shelf_top"], hinge[2] + height, depth=depth
        )
        # The door: a point on its outer face, ahead of the door by ``lead`` once pushing.
        angle = obs["door_openness"][:, 0].astype(np.float64) * info["door_range"]
        lead = np.where(phase >= 10, 0.3, 0.0)
        phi = np.maximum(angle - lead, -0.15)
        radius, inset = 0.72 * width, np.where(phase >= 10, 0.035, 0.055)
        if self.palm:  # a fist's knuckles push, some 6 cm ahead of the palm's centre
            inset = inset + HAND_REACH
        door_point = np.stack(
            [
                hinge[0] - radius * np.sin(phi) - inset * np.cos(phi),
                hinge[1] + radius * np.cos(phi) - inset * np.sin(phi),
                np.where(phase == 8, hinge[2] + height + 0.08, hinge[2] + height - 0.04),
            ],
            axis=1,
        )
        door = phase >= 8
        goal[door] = door_point[door]
        # Fingers along the door once pushing it; a hand's fist points into it.
        if self.palm:
            quat[door] = self._down(phi)[door]
        else:
            yaw = nearest_equivalent(phi + np.pi / 2, self._finger_yaw(rows), np.pi)
            quat[door] = down_quat(yaw)[door]
        err = np.linalg.norm(ee - goal, axis=1)
        advance |= (
            ((phase == 8) & (err < 0.015) & (timer > 3) & self._aligned(quat, rows))
            | ((phase == 9) & ((err < 0.01) | (timer > 40)))
        ).astype(int)
        gripper[door] = CLOSED
        return goal, quat, gripper, advance
