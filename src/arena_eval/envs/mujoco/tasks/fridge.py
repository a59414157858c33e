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

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.tasks.base import (
    DOOR_MOVED_OPENNESS,
    TABLE_TOP,
    WORLD_CONAFFINITY,
    WORLD_CONTYPE,
    Task,
    TaskState,
)

WALL = 0.01  # wall thickness
PLACE_MARGIN = 0.03  # the object's centre must be this far inside the cabinet's walls
PLACE_HEIGHT_TOL = 0.015  # metres between the object's height and its height on the shelf
PLACE_SPEED = 0.05  # m/s: "resting"


class Fridge(Task):
    name = "fridge"
    has_door = True

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
        for name, (pos, size) in parts.items():
            geom = cabinet.add_geom(name=f"fridge_{name}", type=mujoco.mjtGeom.mjGEOM_BOX)
            geom.pos, geom.size = pos, size
            geom.rgba = [0.92, 0.94, 0.96, 1] if name != "shelf" else [0.7, 0.8, 0.9, 1]
            geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
        # As the microwave's: the hinge stands just in front of the cabinet and the panel clears
        # the table, so the door touches nothing at rest and stays where a reset puts it.
        door = cabinet.add_body(name="fridge_door", pos=[-0.004, 0, 0])
        door.add_joint(
            name="door_joint",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[0, 0, 1],
            range=[0.0, c.door_range],
            damping=0.05,
            frictionloss=0.01,
        )
        panel = door.add_geom(name="fridge_door_panel", type=mujoco.mjtGeom.mjGEOM_BOX)
        panel.pos, panel.size = [-0.01, w / 2, h / 2 + 0.002], [0.01, w / 2, h / 2 - 0.002]
        panel.mass = 0.5
        panel.rgba = [0.80, 0.84, 0.88, 1]
        panel.contype, panel.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY

    def observations(self) -> dict[str, ArraySpec]:
        return {**super().observations(), "door_openness": ArraySpec((1,))}

    def info(self) -> dict:
        c = self.config
        return {
            "hinge_pos": [c.front_x, c.hinge_y, TABLE_TOP],
            "door_width": c.width,
            "door_height": c.height,
            "door_range": c.door_range,
            "cabinet_depth": c.depth,
            "shelf_top": TABLE_TOP + c.shelf_height,
            "close_openness": c.close_openness,
            "table_top": TABLE_TOP,
        }

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return FridgeState(self, model, sims, obj)


class FridgeState(TaskState):
    def __init__(self, task: Fridge, model, sims, obj) -> None:
        super().__init__(task, model, sims, obj)
        joint = model.joint("door_joint")
        self.door_q = int(joint.qposadr[0])
        self.door_v = int(joint.dofadr[0])
        c = task.config
        m = sims.nsim
        self.start_openness = np.zeros(m)
        self.door_moved_flags = np.zeros(m, dtype=bool)
        self.subtasks = {"place": np.zeros(m, dtype=bool), "close": np.zeros(m, dtype=bool)}
        self.inside_low = np.array([c.front_x + PLACE_MARGIN, c.hinge_y + PLACE_MARGIN])
        self.inside_high = np.array(
            [c.front_x + c.depth - PLACE_MARGIN, c.hinge_y + c.width - PLACE_MARGIN]
        )
        self.rest_z = TABLE_TOP + c.shelf_height + obj.height / 2

    def openness(self) -> np.ndarray:
        return self.sims.qpos[:, self.door_q] / self.task.config.door_range

    def reset(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        c = self.task.config
        noise = np.array([r.uniform(-1, 1, size=3) for r in rngs]).reshape(-1, 3)
        xy = np.asarray(c.object_xy) + c.xy_noise * noise[:, :2]
        self.place_object(rows, xy, c.yaw_noise * noise[:, 2])
        self.sims.qpos[rows, self.door_q] = c.start_openness * c.door_range
        self.sims.qvel[rows, self.door_v] = 0.0

    def after_reset(self, rows: np.ndarray) -> None:
        super().after_reset(rows)
        self.start_openness[rows] = self.openness()[rows]
        self.door_moved_flags[rows] = False

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.task.config
        openness = self.openness()
        self.door_moved_flags |= np.abs(openness - self.start_openness) > DOOR_MOVED_OPENNESS
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

    def door_moved(self, row: int) -> bool | None:
        return bool(self.door_moved_flags[row])

    def observe(self, out: dict[str, np.ndarray], rows: np.ndarray) -> None:
        super().observe(out, rows)
        out["door_openness"][rows, 0] = self.openness()
