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
        goals = {"lift_object": self._lift_goals, "open_microwave": self._microwave_goals}
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
