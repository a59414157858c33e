"""Open the microwave: a box cabinet whose door hinges on a vertical axis at its right edge.

The door starts ``start_openness`` open (0.2 of its range, as in the reference); success when
its openness reaches ``success_openness`` (0.8). The object stands on the table beside it as
a bystander whose motion ``object_moved_rate`` reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mujoco
import numpy as np

from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.tasks.base import (
    TABLE_TOP,
    TaskState,
)
from arena_eval.envs.mujoco.tasks.door import DoorState, DoorTask, add_boxes, add_door

FIXTURE_CLEARANCE = 0.08  # m above the cabinet's top for a ready hand: the fingers hang below


class OpenMicrowave(DoorTask):
    name = "open_microwave"

    @dataclasses.dataclass
    class Config:
        episode_length_s: float = 5.0
        start_openness: float = 0.2
        success_openness: float = 0.8
        front_x: float = 0.55  # the cabinet's front face
        hinge_y: float = -0.06
        width: float = 0.32
        depth: float = 0.30
        height: float = 0.25
        door_range: float = 1.75  # radians of the door joint's range
        object_xy: tuple[float, float] = (0.32, -0.32)
        xy_noise: float = 0.03
        yaw_noise: float = 0.5

    def build(self, world: mujoco.MjSpec, obj: ObjectSpec) -> None:
        super().build(world, obj)
        c = self.config
        wall = 0.01
        cabinet = world.worldbody.add_body(name="microwave", pos=[c.front_x, c.hinge_y, TABLE_TOP])
        x0, w, d, h = 0.0, c.width, c.depth, c.height
        walls = {  # name: (center, half-size) in the cabinet frame (origin: hinge corner)
            "back": ([x0 + d - wall, w / 2, h / 2], [wall, w / 2, h / 2]),
            "top": ([x0 + d / 2, w / 2, h - wall], [d / 2, w / 2, wall]),
            "bottom": ([x0 + d / 2, w / 2, wall], [d / 2, w / 2, wall]),
            "left": ([x0 + d / 2, w - wall, h / 2], [d / 2, wall, h / 2]),
            "right": ([x0 + d / 2, wall, h / 2], [d / 2, wall, h / 2]),
        }
        add_boxes(cabinet, "microwave", walls, {"default": [0.85, 0.85, 0.88, 1]})
        add_door(cabinet, "microwave_door", w, h, c.door_range, [0.15, 0.15, 0.18, 1], handle=True)

    def fixtures_top(self, objects: Sequence[ObjectSpec] = ()) -> float:
        # The cabinet stands under G1's hands at its home pose (they started 5 cm into its top).
        return self.config.height + FIXTURE_CLEARANCE

    def info(self) -> dict:
        c = self.config
        return {
            **super().info(),
            "success_openness": c.success_openness,
        }

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return MicrowaveState(self, model, sims, obj)


class MicrowaveState(DoorState):
    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        success = self.track_door() >= self.task.config.success_openness
        return success, np.zeros_like(success)
