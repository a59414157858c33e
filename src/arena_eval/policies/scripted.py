"""Scripted experts: one per task, from privileged state (object and door poses).

Each expert plans a reference end-effector trajectory (a commanded pose that moves towards
phase goals at bounded speed) and emits its increments as ``ee_delta`` actions, so the
controller's target follows the plan exactly. Because the plan is explicit, the expert can
return genuine multi-step action chunks (``chunk_length`` > 1) by rolling the plan forward.
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


def down_quat(yaw: np.ndarray) -> np.ndarray:
    """Gripper pointing down, fingers closing along the world direction ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    zeros = np.zeros_like(yaw)
    x = np.stack([c, s, zeros], -1)
    y = np.stack([s, -c, zeros], -1)
    z = np.stack([zeros, zeros, -np.ones_like(yaw)], -1)
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

    def __init__(self, config: Config, spec) -> None:
        super().__init__(config, spec)
        if spec.action_mode != "ee_delta":
            raise PolicyError(
                f"the scripted expert drives end-effector embodiments; {spec.embodiment!r} takes "
                f"{spec.action_mode} actions. Use an IK embodiment, e.g. embodiment=franka_ik."
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
        self.chunk_length = max(1, int(config.chunk_length))
        n = spec.num_envs
        self.plan = Plan(
            np.zeros((n, 3)),
            np.tile([1.0, 0, 0, 0], (n, 1)),
            np.zeros(n, int),
            np.zeros(n, int),
            np.ones(n, bool),
        )
        self._low = np.asarray(spec.action_low)
        self._high = np.asarray(spec.action_high)

    def reset(self, env_ids=None) -> None:
        ids = slice(None) if env_ids is None else np.asarray(env_ids, dtype=int)
        self.plan.fresh[ids] = True

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        rows = np.arange(self.spec.num_envs)
        return self._plan_steps(obs, rows, 1)[:, 0]

    def get_action_chunk(self, obs: Mapping[str, np.ndarray], env_ids: np.ndarray) -> np.ndarray:
        return self._plan_steps(obs, np.asarray(env_ids, dtype=int), self.chunk_length)

    # -- planning ----------------------------------------------------------------------
    def _plan_steps(
        self, obs: Mapping[str, np.ndarray], rows: np.ndarray, steps: int
    ) -> np.ndarray:
        """Roll the plan of envs ``rows`` forward ``steps`` control steps; obs rows match."""
        plan = self.plan
        fresh = plan.fresh[rows]
        if fresh.any():
            sel = rows[fresh]
            plan.pos[sel] = obs["ee_pos"][fresh]
            plan.quat[sel] = obs["ee_quat"][fresh]
            plan.phase[sel] = 0
            plan.timer[sel] = 0
            plan.fresh[sel] = False
        ee = np.asarray(obs["ee_pos"], dtype=np.float64)
        out = np.zeros((len(rows), steps, self.spec.action_dim), dtype=np.float32)
        for k in range(steps):
            # After the first step, the plan predicts that the hand follows the reference.
            measured = ee if k == 0 else plan.pos[rows]
            goal_pos, goal_quat, gripper, advance = self._goals(obs, rows, measured)
            plan.phase[rows] += advance
            plan.timer[rows] = np.where(advance, 0, plan.timer[rows] + 1)
            step = np.clip(goal_pos - plan.pos[rows], -SPEED, SPEED)
            turn = rotation_error(goal_quat, plan.quat[rows])
            norm = np.linalg.norm(turn, axis=1, keepdims=True)
            turn *= np.minimum(1.0, TURN / np.maximum(norm, 1e-9))
            plan.pos[rows] += step
            plan.quat[rows] = quat_mul(quat_from_rotvec(turn), plan.quat[rows])
            action = np.concatenate([step, turn, gripper[:, None]], axis=1)
            out[:, k] = np.clip(action, self._low, self._high)
        return out

    def _finger_yaw(self, rows: np.ndarray) -> np.ndarray:
        x_axis = quat_to_mat(self.plan.quat[rows])[:, :, 0]
        return np.arctan2(x_axis[:, 1], x_axis[:, 0])

    def _lift_goals(self, obs, rows, ee):
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        obj, size = obs["object_pos"].astype(np.float64), obs["object_size"].astype(np.float64)
        top = obj[:, 2] + size[:, 2] / 2
        # Close across the narrower side: the object's x axis, or y when y is narrower.
        yaw = yaw_of(obs["object_quat"].astype(np.float64)) + np.where(
            size[:, 1] < size[:, 0], np.pi / 2, 0.0
        )
        yaw = nearest_equivalent(yaw, self._finger_yaw(rows), np.pi)
        grasp_z = np.maximum(top - 0.025, 0.02)
        above = np.concatenate([obj[:, :2], (top + 0.08)[:, None]], axis=1)
        grasp = np.concatenate([obj[:, :2], grasp_z[:, None]], axis=1)
        # Lift relative to the rest height, not the (rising) object: a fixed goal.
        rest_grasp_z = self.spec.task_info.get("table_top", 0.0) + size[:, 2] - 0.025
        lift = np.concatenate([obj[:, :2], (rest_grasp_z + 0.22)[:, None]], axis=1)
        goal = np.select([phase[:, None] == 0, phase[:, None] == 1], [above, grasp], lift)
        # Once grasped, hold the commanded xy where the grasp happened.
        holding = phase >= 2
        goal[holding, :2] = plan.pos[rows][holding, :2]
        goal[phase == 2] = plan.pos[rows][phase == 2]
        err = np.linalg.norm(ee - goal, axis=1)
        advance = (
            ((phase == 0) & (err < 0.015) & (timer > 5))
            | ((phase == 1) & ((err < 0.008) | (timer > 60)))
            | ((phase == 2) & (timer >= 15))
        ).astype(int)
        gripper = np.where(phase >= 2, CLOSED, OPEN)
        return goal, down_quat(yaw), gripper, advance

    def _microwave_goals(self, obs, rows, ee):
        info = self.spec.task_info
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        hinge = np.asarray(info["hinge_pos"], dtype=np.float64)
        width, height = info["door_width"], info["door_height"]
        angle = obs["door_openness"][:, 0].astype(np.float64) * info["door_range"]
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
        advance = (
            ((phase == 0) & (err < 0.012) & (timer > 5))
            | ((phase == 1) & ((err < 0.01) | (timer > 60)))
        ).astype(int)
        yaw = np.full(len(rows), np.pi / 2)
        return point, down_quat(yaw), np.full(len(rows), CLOSED), advance

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
        advance = ((phase == 0) & (err < 0.01) & (timer > 5)).astype(int)
        yaw = nearest_equivalent(np.full(len(rows), np.pi / 2), self._finger_yaw(rows), np.pi)
        return goal, down_quat(yaw), np.full(len(rows), CLOSED), advance

    def _place_goals(self, obs, rows, ee, place_xy, place_top, clear_z):
        """Phases 0-7 of carrying the object onto a surface: 0 above the object, 1 down to the
        grasp, 2 close, 3 lift until its bottom clears ``clear_z``, 4 over ``place_xy``, 5 lower
        until its bottom is just above ``place_top``, 6 release, 7 up. Later phases hold the
        plan (a caller may give them goals). Returns goal, quat, gripper, advance."""
        plan = self.plan
        phase, timer = plan.phase[rows], plan.timer[rows]
        obj, size = obs["object_pos"].astype(np.float64), obs["object_size"].astype(np.float64)
        top = obj[:, 2] + size[:, 2] / 2
        grasp_below_top = np.minimum(0.025, size[:, 2] - 0.02)
        carry_z = clear_z + 0.05 + size[:, 2] - grasp_below_top
        place = np.column_stack([place_xy, place_top + size[:, 2] - grasp_below_top + 0.005])
        goal = np.array(plan.pos[rows])
        goal[phase == 0] = np.column_stack([obj[:, :2], top + 0.08])[phase == 0]
        goal[phase == 1] = np.column_stack([obj[:, :2], top - grasp_below_top])[phase == 1]
        goal[phase == 3, 2] = carry_z[phase == 3]
        goal[phase == 4] = np.column_stack([place[:, :2], carry_z])[phase == 4]
        goal[phase == 5] = place[phase == 5]
        goal[phase == 7, 2] = (clear_z + 0.10 + size[:, 2])[phase == 7]
        err = np.linalg.norm(ee - goal, axis=1)
        xy_err = np.linalg.norm(ee[:, :2] - goal[:, :2], axis=1)
        # Descend to the grasp and carry at half speed: a fast descent swings the open fingers
        # onto a small can's rim, and a fast carry lets a round can slip out of the grasp.
        slow = (phase == 1) | ((phase >= 3) & (phase <= 5))
        cur = plan.pos[rows]
        goal[slow] = (cur + np.clip(goal - cur, -SPEED / 2, SPEED / 2))[slow]
        advance = (
            # Small cans leave the open fingers a few millimetres: settle over the object first.
            ((phase == 0) & (err < 0.015) & (xy_err < 0.004) & (timer > 5))
            | ((phase == 0) & (timer > 60))
            | ((phase == 1) & ((err < 0.008) | (timer > 60)))
            | ((phase == 2) & (timer >= 15))
            | (((phase == 3) | (phase == 4) | (phase == 7)) & (err < 0.015))
            | ((phase == 5) & ((err < 0.008) | (timer > 40)))
            | ((phase == 6) & (timer >= 12))
        ).astype(int)
        # Fingers across the object's narrower side, kept as grasped until it is released.
        yaw = yaw_of(obs["object_quat"].astype(np.float64)) + np.where(
            size[:, 1] < size[:, 0], np.pi / 2, 0.0
        )
        quat = down_quat(nearest_equivalent(yaw, self._finger_yaw(rows), np.pi))
        carrying = (phase >= 2) & (phase <= 7)
        quat[carrying] = plan.quat[rows][carrying]
        gripper = np.where((phase >= 2) & (phase <= 5), CLOSED, OPEN)
        return goal, quat, gripper, advance

    def _pick_place_goals(self, obs, rows, ee):
        # Into the bin: the carry clears its walls, the object is set down on its floor.
        info = self.spec.task_info
        n = len(rows)
        bin_xy = np.tile(np.asarray(info["bin_pos"][:2], dtype=np.float64), (n, 1))
        clear_z = info["table_top"] + info["wall_height"]
        return self._place_goals(obs, rows, ee, bin_xy, info["bin_floor_top"], clear_z)

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
        goal, quat, gripper, advance = self._place_goals(
            obs, rows, ee, shelf_xy, info["shelf_top"], hinge[2] + height
        )
        # The door: a point on its outer face, ahead of the door by ``lead`` once pushing.
        angle = obs["door_openness"][:, 0].astype(np.float64) * info["door_range"]
        lead = np.where(phase >= 10, 0.3, 0.0)
        phi = np.maximum(angle - lead, -0.15)
        radius, inset = 0.72 * width, np.where(phase >= 10, 0.035, 0.055)
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
        err = np.linalg.norm(ee - goal, axis=1)
        advance |= (
            ((phase == 8) & (err < 0.015) & (timer > 3))
            | ((phase == 9) & ((err < 0.01) | (timer > 40)))
        ).astype(int)
        # Fingers along the door once pushing it.
        quat[door] = down_quat(nearest_equivalent(phi + np.pi / 2, self._finger_yaw(rows), np.pi))[
            door
        ]
        gripper[door] = CLOSED
        return goal, quat, gripper, advance
