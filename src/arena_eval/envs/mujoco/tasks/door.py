"""Hinged doors shared by the cabinet tasks (microwave, fridge): the body and its state.

A door hangs on a vertical hinge at the cabinet's front-right corner and opens towards the
robot; its openness is the hinge angle over the joint's range. The hinge stands just in front
of the cabinet and the panel clears the table, so the door touches nothing at rest and stays
where a reset puts it.
"""

from __future__ import annotations

import mujoco
import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.tasks.base import (
    DOOR_MOVED_OPENNESS,
    TABLE_TOP,
    WORLD_CONAFFINITY,
    WORLD_CONTYPE,
    Task,
    TaskState,
)


def add_boxes(body: mujoco.MjsBody, prefix: str, parts: dict, rgba: dict) -> None:
    """Box geoms ``{name: (centre, half-size)}`` in ``body``'s frame, colliding with the world."""
    for name, (pos, size) in parts.items():
        geom = body.add_geom(name=f"{prefix}_{name}", type=mujoco.mjtGeom.mjGEOM_BOX)
        geom.pos, geom.size = pos, size
        geom.rgba = rgba.get(name, rgba["default"])
        geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY


def add_door(
    cabinet: mujoco.MjsBody,
    name: str,
    width: float,
    height: float,
    door_range: float,
    rgba: list[float],
    handle: bool = False,
) -> mujoco.MjsBody:
    """A door panel on a hinge joint named ``door_joint`` (range in radians)."""
    door = cabinet.add_body(name=name, pos=[-0.004, 0, 0])
    door.add_joint(
        name="door_joint",
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=[0, 0, 1],
        range=[0.0, door_range],
        damping=0.05,
        frictionloss=0.01,
    )
    panel = door.add_geom(name=f"{name}_panel", type=mujoco.mjtGeom.mjGEOM_BOX)
    panel.pos = [-0.01, width / 2, height / 2 + 0.002]
    panel.size = [0.01, width / 2, height / 2 - 0.002]
    panel.mass = 0.5
    panel.rgba = rgba
    panel.contype, panel.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
    if handle:
        grip = door.add_geom(name=f"{name}_handle", type=mujoco.mjtGeom.mjGEOM_BOX)
        grip.pos, grip.size = [-0.035, width - 0.03, height / 2], [0.015, 0.008, height / 3]
        grip.mass = 0.05
        grip.contype, grip.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
    return door


class DoorTask(Task):
    """A task with a cabinet door: its observation and the door's layout for the experts.

    The config has ``front_x``, ``hinge_y``, ``width``, ``height`` and ``door_range``.
    """

    has_door = True

    def observations(self) -> dict[str, ArraySpec]:
        return {**super().observations(), "door_openness": ArraySpec((1,))}

    def info(self) -> dict:
        c = self.config
        return {
            "hinge_pos": [c.front_x, c.hinge_y, TABLE_TOP],
            "door_width": c.width,
            "door_height": c.height,
            "door_range": c.door_range,
        }


class DoorState(TaskState):
    """A task state with a door: openness, its reset, door_moved tracking, its observation.

    The task's config has ``door_range``, ``start_openness``, ``object_xy``, ``xy_noise`` and
    ``yaw_noise``; subclasses call :meth:`track_door` in ``terms`` and use the openness.
    """

    def __init__(self, task, model, sims, obj) -> None:
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

    def track_door(self) -> np.ndarray:
        """Update door_moved for this step; return the openness."""
        openness = self.openness()
        self.door_moved_flags |= np.abs(openness - self.start_openness) > DOOR_MOVED_OPENNESS
        return openness

    def door_moved(self, row: int) -> bool | None:
        return bool(self.door_moved_flags[row])

    def derive(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        out["door_openness"][rows, 0] = self.openness()
