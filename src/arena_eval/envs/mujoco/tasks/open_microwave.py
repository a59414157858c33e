"""Open the microwave: a box cabinet whose door hinges on a vertical axis at its right edge.

The door starts ``start_openness`` open (0.2 of its range, as in the reference); success when
its openness reaches ``success_openness`` (0.8). The object stands on the table beside it as
a bystander whose motion ``object_moved_rate`` reports.
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


class OpenMicrowave(Task):
    name = "open_microwave"
    has_door = True

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
        for name, (pos, size) in walls.items():
            geom = cabinet.add_geom(name=f"microwave_{name}", type=mujoco.mjtGeom.mjGEOM_BOX)
            geom.pos, geom.size = pos, size
            geom.rgba = [0.85, 0.85, 0.88, 1]
            geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
        # The hinge stands just in front of the cabinet and the panel clears the table, so the
        # door touches nothing at rest: it stays where a reset puts it.
        door = cabinet.add_body(name="microwave_door", pos=[-0.004, 0, 0])
        door.add_joint(
            name="door_joint",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[0, 0, 1],
            range=[0.0, c.door_range],
            damping=0.05,
            frictionloss=0.01,
        )
        panel = door.add_geom(name="door_panel", type=mujoco.mjtGeom.mjGEOM_BOX)
        panel.pos, panel.size = [-0.01, w / 2, h / 2 + 0.002], [0.01, w / 2, h / 2 - 0.002]
        panel.mass = 0.5
        panel.rgba = [0.15, 0.15, 0.18, 1]
        panel.contype, panel.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
        handle = door.add_geom(name="door_handle", type=mujoco.mjtGeom.mjGEOM_BOX)
        handle.pos, handle.size = [-0.035, w - 0.03, h / 2], [0.015, 0.008, h / 3]
        handle.mass = 0.05
        handle.contype, handle.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY

    def observations(self) -> dict[str, ArraySpec]:
        return {**super().observations(), "door_openness": ArraySpec((1,))}

    def info(self) -> dict:
        c = self.config
        return {
            "hinge_pos": [c.front_x, c.hinge_y, TABLE_TOP],
            "door_width": c.width,
            "door_height": c.height,
            "door_range": c.door_range,
            "success_openness": c.success_openness,
        }

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return MicrowaveState(self, model, sims, obj)


class MicrowaveState(TaskState):
    def __init__(self, task: OpenMicrowave, model, sims, obj) -> None:
        super().__init__(task, model, sims, obj)
        joint = model.joint("door_joint")
        self.door_q = int(joint.qposadr[0])
        self.door_v = int(joint.dofadr[0])
        self.start_openness = np.zeros(sims.nsim)
        self.door_moved_flags = np.zeros(sims.nsim, dtype=bool)

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
        openness = self.openness()
        self.door_moved_flags |= np.abs(openness - self.start_openness) > DOOR_MOVED_OPENNESS
        success = openness >= self.task.config.success_openness
        return success, np.zeros_like(success)

    def door_moved(self, row: int) -> bool | None:
        return bool(self.door_moved_flags[row])

    def observe(self, out: dict[str, np.ndarray], rows: np.ndarray) -> None:
        super().observe(out, rows)
        out["door_openness"][rows, 0] = self.openness()
