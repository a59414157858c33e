"""Lift the object: success once it is at least ``lift_height`` above its rest height and has
stayed there for ``hold_s``; failure if it falls off the table."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.tasks.base import TABLE_TOP, Task, TaskState


class LiftObject(Task):
    name = "lift_object"
    # In front of the robot, beside the object's own spot (x 0.45..0.55): reachable, clear.
    distractor_region = ((0.32, 0.72), (-0.32, 0.32))

    @dataclasses.dataclass
    class Config:
        episode_length_s: float = 6.0
        lift_height: float = 0.10
        hold_s: float = 0.5
        object_x: float = 0.5
        xy_noise: float = 0.05
        yaw_noise: float = 0.5
        drop_height: float = -0.05

    def info(self) -> dict:
        return {"lift_height": self.config.lift_height, "table_top": TABLE_TOP}

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return LiftState(self, model, sims, obj)


class LiftState(TaskState):
    def __init__(self, task: LiftObject, model, sims, obj) -> None:
        super().__init__(task, model, sims, obj)
        self.held_steps = np.zeros(sims.nsim, dtype=np.int64)
        self.hold_needed = max(1, round(task.config.hold_s * sims.control_hz))
        self.lift_z = np.zeros(sims.nsim)  # the height that counts as lifted, per episode
        self.drop_z = TABLE_TOP + task.config.drop_height
        # The terms' operands as whole arrays of one shape and dtype (NumPy's fast path).
        self._z = self.pos_view[:, 2]
        self._ones = np.ones(sims.nsim, dtype=np.int64)
        self._needed = np.full(sims.nsim, self.hold_needed, dtype=np.int64)
        self._drop = np.full(sims.nsim, self.drop_z)

    def reset(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        c = self.task.config
        noise = np.array([r.uniform(-1, 1, size=3) for r in rngs]).reshape(-1, 3)
        xy = np.stack([c.object_x + c.xy_noise * noise[:, 0], c.xy_noise * noise[:, 1]], axis=1)
        self.place_object(rows, xy, c.yaw_noise * noise[:, 2])
        self.held_steps[rows] = 0

    def after_reset(self, rows: np.ndarray) -> None:
        super().after_reset(rows)
        self.lift_z[rows] = self.start_pos[rows, 2] + self.task.config.lift_height

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        z, held = self._z, self.held_steps
        np.add(held, self._ones, out=held)  # steps held up so far, back to 0 once it is not
        held *= z >= self.lift_z
        return np.greater_equal(held, self._needed), np.less(z, self._drop)
