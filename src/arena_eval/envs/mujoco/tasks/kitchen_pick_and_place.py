"""Kitchen pick and place: move the object from the counter into an open bin standing on it.

The counter is the table (its top is z = 0). The bin is an open-topped box (a floor plate and
four low walls) to the right of the robot; the object starts on the counter to the left.

Success (the reference's terms): the object is on the destination, pressing on it with more than
``min_contact_force`` (1 N), and at rest (linear speed below ``rest_speed``, 0.1 m/s). The
contact is read from a MuJoCo ``contact`` sensor matching the object's geom against every geom
of the bin's body, reduced to the net force: the simulator computes it during the step, so the
check costs one read of ``sensordata`` (no per-step ``get_data`` and no walk over
``data.contact``). On Isaac Lab the state view mirrors the same ``sensordata`` columns from a
contact sensor of the object against the bin's shapes. The object's centre must also lie inside
the bin's inner footprint, so leaning on the outside of a wall does not count. Failure: the
object fell off the counter (its centre below ``drop_height``). Time limit 8 s.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.tasks.base import (
    TABLE_TOP,
    WORLD_CONAFFINITY,
    WORLD_CONTYPE,
    Task,
    TaskState,
)
from arena_eval.envs.observations import Read

WALL = 0.01  # wall thickness
FLOOR = 0.01  # floor plate thickness
# The contact sensor's data: "found" (number of contacts) then the net force (3 values).
SENSOR_FOUND, SENSOR_FORCE = 1, 2
SENSOR_NETFORCE = 3


class KitchenPickAndPlace(Task):
    name = "kitchen_pick_and_place"
    object_under_arms = True  # the object stands close to the body, within the forearms

    @dataclasses.dataclass
    class Config:
        episode_length_s: float = 8.0
        bin_xy: tuple[float, float] = (0.50, -0.17)  # centre of the bin
        bin_size: tuple[float, float] = (0.22, 0.22)  # inner extents x, y
        wall_height: float = 0.07  # from the counter
        inside_margin: float = 0.02  # the object's centre this far inside the inner walls
        min_contact_force: float = 1.0  # N
        rest_speed: float = 0.1  # m/s
        object_xy: tuple[float, float] = (0.45, 0.17)
        xy_noise: float = 0.03
        yaw_noise: float = 0.4
        drop_height: float = -0.05

    def build(self, world: mujoco.MjSpec, obj: ObjectSpec) -> None:
        super().build(world, obj)
        c = self.config
        bx, by = c.bin_size[0] / 2, c.bin_size[1] / 2
        h = c.wall_height
        body = world.worldbody.add_body(name="bin", pos=[*c.bin_xy, TABLE_TOP])
        parts = {  # name: (centre, half-size) in the bin's frame (origin: floor centre)
            "floor": ([0, 0, FLOOR / 2], [bx + WALL, by + WALL, FLOOR / 2]),
            "front": ([-bx - WALL / 2, 0, h / 2], [WALL / 2, by + WALL, h / 2]),
            "back": ([bx + WALL / 2, 0, h / 2], [WALL / 2, by + WALL, h / 2]),
            "left": ([0, by + WALL / 2, h / 2], [bx, WALL / 2, h / 2]),
            "right": ([0, -by - WALL / 2, h / 2], [bx, WALL / 2, h / 2]),
        }
        for name, (pos, size) in parts.items():
            geom = body.add_geom(name=f"bin_{name}", type=mujoco.mjtGeom.mjGEOM_BOX)
            geom.pos, geom.size = pos, size
            geom.rgba = [0.45, 0.47, 0.50, 1] if name != "floor" else [0.35, 0.37, 0.40, 1]
            geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
        sensor = world.add_sensor(
            name="object_on_bin",
            type=mujoco.mjtSensor.mjSENS_CONTACT,
            objtype=mujoco.mjtObj.mjOBJ_GEOM,
            objname="object_geom",
            reftype=mujoco.mjtObj.mjOBJ_BODY,
            refname="bin",
        )
        # intprm: which fields (found, force), how to reduce (net force), how many slots (1).
        sensor.intprm[0] = SENSOR_FOUND | SENSOR_FORCE
        sensor.intprm[1] = SENSOR_NETFORCE
        sensor.intprm[2] = 1

    def observations(self) -> dict[str, ArraySpec]:
        return {**super().observations(), "bin_pos": ArraySpec((3,))}

    def info(self) -> dict:
        c = self.config
        return {
            "bin_pos": [*c.bin_xy, TABLE_TOP],
            "bin_size": list(c.bin_size),
            "bin_floor_top": TABLE_TOP + FLOOR,
            "wall_height": c.wall_height,
            "table_top": TABLE_TOP,
        }

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return PickAndPlaceState(self, model, sims, obj)


class PickAndPlaceState(TaskState):
    def __init__(self, task: KitchenPickAndPlace, model, sims, obj) -> None:
        super().__init__(task, model, sims, obj)
        c = task.config
        adr = int(model.sensor("object_on_bin").adr[0])
        self.sensordata = sims.sensordata  # MuJoCo's own; a mirror on Isaac Lab
        self.force_cols = slice(adr + 1, adr + 4)  # after the "found" count
        half = np.asarray(c.bin_size) / 2 - c.inside_margin
        self.inside_low = np.asarray(c.bin_xy) - half
        self.inside_high = np.asarray(c.bin_xy) + half
        self.bin_rows = np.tile([*c.bin_xy, TABLE_TOP], (sims.nsim, 1))  # bin_pos, observed

    def reset(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        c = self.task.config
        noise = np.array([r.uniform(-1, 1, size=3) for r in rngs]).reshape(-1, 3)
        xy = np.asarray(c.object_xy) + c.xy_noise * noise[:, :2]
        self.place_object(rows, xy, c.yaw_noise * noise[:, 2])

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.task.config
        pos = self.object_pos()
        vel = self.sims.qvel[:, self.obj_v : self.obj_v + 3]
        force = self.sensordata[:, self.force_cols]
        inside = np.all((pos[:, :2] > self.inside_low) & (pos[:, :2] < self.inside_high), axis=1)
        pressing = np.einsum("ij,ij->i", force, force) > c.min_contact_force**2
        resting = np.einsum("ij,ij->i", vel, vel) < c.rest_speed**2
        return inside & pressing & resting, pos[:, 2] < TABLE_TOP + c.drop_height

    def reads(self) -> list[Read]:
        return [*super().reads(), Read("bin_pos", self.bin_rows, constant=True)]
