"""Put the object in the fridge, then close its door: two subtasks in order.

The fridge is a short, open-topped cabinet standing on the table (so a top-down grasp can
lower the object in) with a raised shelf as its floor and a door on a vertical hinge at its
right edge that opens outwards, towards the robot. The door starts ``start_openness`` open
(0.5 of its range); the object starts on the table in front of the fridge, to the left of the
open door.

Subtasks (flags stick once reached, and are reported as ``subtask_success_rate``):
- ``place``: the object rests on the shelf: its centre inside the cabinet's footprint, its
  height that of the object standing on the shelf, and it is (nearly) still;
- ``close``: after ``place``, the door's openness is below ``close_openness`` (0.10).
Success = both, in that order; failure = the object fell below the table.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.tasks.base import (
    TABLE_TOP,
    TaskState,
)
from arena_eval.envs.mujoco.tasks.door import DoorState, DoorTask, add_boxes, add_door

WALL = 0.01  # wall thickness
PLACE_MARGIN = 0.03  # the object's centre must be this far inside the cabinet's walls
PLACE_HEIGHT_TOL = 0.015  # metres between the object's height and its height on the shelf
PLACE_SPEED = 0.05  # m/s: "resting"


class Fridge(DoorTask):
    name = "fridge"
    object_under_arms = True  # the object stands close to the body, within the forearms

    @dataclasses.dataclass
    class Config:
        episode_length_s: float = 10.0
        start_openness: float = 0.5
        close_openness: float = 0.10
        front_x: float = 0.50  # the cabinet's front face
        hinge_y: float = -0.14  # its right edge, where the door hinges
        width: float = 0.28
        depth: float = 0.24
        height: float = 0.16  # walls and door, from the table
        shelf_height: float = 0.03  # the shelf's top, above the table
        door_range: float = 2.4  # radians of the door joint's range
        object_xy: tuple[float, float] = (0.38, 0.16)
        xy_noise: float = 0.02
        yaw_noise: float = 0.3
        drop_height: float = -0.05

    def build(self, world: mujoco.MjSpec, obj: ObjectSpec) -> None:
        super().build(world, obj)
        c = self.config
        cabinet = world.worldbody.add_body(name="fridge", pos=[c.front_x, c.hinge_y, TABLE_TOP])
        w, d, h, s = c.width, c.depth, c.height, c.shelf_height
        parts = {  # name: (centre, half-size) in the cabinet frame (origin: hinge corner)
            "shelf": ([d / 2, w / 2, s / 2], [d / 2, w / 2, s / 2]),
            "back": ([d - WALL / 2, w / 2, h / 2], [WALL / 2, w / 2, h / 2]),
            "left": ([d / 2, w - WALL / 2, h / 2], [d / 2, WALL / 2, h / 2]),
            "right": ([d / 2, WALL / 2, h / 2], [d / 2, WALL / 2, h / 2]),
        }
        colours = {"default": [0.92, 0.94, 0.96, 1], "shelf": [0.7, 0.8, 0.9, 1]}
        add_boxes(cabinet, "fridge", parts, colours)
        add_door(cabinet, "fridge_door", w, h, c.door_range, [0.80, 0.84, 0.88, 1])

    def info(self) -> dict:
        c = self.config
        return {
            **super().info(),
            "cabinet_depth": c.depth,
            "shelf_top": TABLE_TOP + c.shelf_height,
            "close_openness": c.close_openness,
            "table_top": TABLE_TOP,
        }

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return FridgeState(self, model, sims, obj)


class FridgeState(DoorState):
    def __init__(self, task: Fridge, model, sims, obj) -> None:
        super().__init__(task, model, sims, obj)
        c = task.config
        m = sims.nsim
        self.subtasks = {"place": np.zeros(m, dtype=bool), "close": np.zeros(m, dtype=bool)}
        self.inside_low = np.array([c.front_x + PLACE_MARGIN, c.hinge_y + PLACE_MARGIN])
        self.inside_high = np.array(
            [c.front_x + c.depth - PLACE_MARGIN, c.hinge_y + c.width - PLACE_MARGIN]
        )
        self.rest_z = TABLE_TOP + c.shelf_height + obj.height / 2

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.task.config
        openness = self.track_door()
        pos = self.object_pos()
        vel = self.sims.qvel[:, self.obj_v : self.obj_v + 3]
        inside = np.all((pos[:, :2] > self.inside_low) & (pos[:, :2] < self.inside_high), axis=1)
        resting = (np.abs(pos[:, 2] - self.rest_z) < PLACE_HEIGHT_TOL) & (
            np.einsum("ij,ij->i", vel, vel) < PLACE_SPEED**2
        )
        place, close = self.subtasks["place"], self.subtasks["close"]
        place |= inside & resting
        close |= place & (openness < c.close_openness)
        return place & close, pos[:, 2] < TABLE_TOP + c.drop_height
