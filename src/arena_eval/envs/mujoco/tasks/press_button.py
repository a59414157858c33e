"""Press the button: a housing fixed on the table with a spring-loaded cap that slides along z.

The cap's slide joint measures travel downwards (0 = up, ``travel`` = fully pressed); a preloaded
spring (joint stiffness with its reference above the rest stop) pushes it back up, so the cap
only stays down while something holds it. Success once the travel reaches ``success_pressed``
(0.7 of the stroke); the episode then ends. The housing is a mocap body, so each episode can
move it a little on the table from its seeded generator. The object stands elsewhere on the
table as a bystander whose motion ``object_moved_rate`` reports.
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

HOUSING_HALF = (0.035, 0.035, 0.015)  # half-extents of the housing box
CAP_RADIUS, CAP_HEIGHT = 0.022, 0.016


class PressButton(Task):
    name = "press_button"
    object_under_arms = True  # the object stands close to the body, within the forearms

    @dataclasses.dataclass
    class Config:
        episode_length_s: float = 4.0
        success_pressed: float = 0.7  # fraction of the stroke
        travel: float = 0.015  # metres of the cap's stroke
        stiffness: float = 300.0  # N/m of the return spring
        preload: float = 0.005  # metres the spring is compressed at rest (springref above rest)
        damping: float = 2.0
        button_xy: tuple[float, float] = (0.5, -0.05)
        button_noise: float = 0.05
        object_xy: tuple[float, float] = (0.32, 0.28)
        xy_noise: float = 0.03
        yaw_noise: float = 0.5

    def build(self, world: mujoco.MjSpec, obj: ObjectSpec) -> None:
        super().build(world, obj)
        c = self.config
        x, y = c.button_xy
        housing = world.worldbody.add_body(name="button", pos=[x, y, TABLE_TOP], mocap=True)
        box = housing.add_geom(name="button_housing", type=mujoco.mjtGeom.mjGEOM_BOX)
        box.size, box.pos = list(HOUSING_HALF), [0, 0, HOUSING_HALF[2]]
        box.rgba = [0.25, 0.25, 0.28, 1]
        box.contype, box.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
        # The cap sits on the housing's top; pressed, it sinks into the housing (parent and
        # child bodies do not collide), down to the joint's range.
        cap = housing.add_body(name="button_cap", pos=[0, 0, 2 * HOUSING_HALF[2]])
        cap.add_joint(
            name="button_joint",
            type=mujoco.mjtJoint.mjJNT_SLIDE,
            axis=[0, 0, -1],
            range=[0.0, c.travel],
            stiffness=c.stiffness,
            springref=-c.preload,
            damping=c.damping,
        )
        geom = cap.add_geom(name="button_cap", type=mujoco.mjtGeom.mjGEOM_CYLINDER)
        geom.size, geom.pos = [CAP_RADIUS, CAP_HEIGHT / 2, 0], [0, 0, CAP_HEIGHT / 2]
        geom.mass = 0.02
        geom.rgba = [0.85, 0.1, 0.1, 1]
        geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY

    def observations(self) -> dict[str, ArraySpec]:
        return {
            **super().observations(),
            "button_pos": ArraySpec((3,)),  # centre of the cap's top face at rest
            "button_pressed": ArraySpec((1,)),  # cap travel, 0 (up) .. 1 (fully pressed)
        }

    def info(self) -> dict:
        c = self.config
        return {"travel": c.travel, "success_pressed": c.success_pressed, "table_top": TABLE_TOP}

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        return ButtonState(self, model, sims, obj)


class ButtonState(TaskState):
    def __init__(self, task: PressButton, model, sims, obj) -> None:
        super().__init__(task, model, sims, obj)
        joint = model.joint("button_joint")
        self.button_q = int(joint.qposadr[0])
        self.button_v = int(joint.dofadr[0])
        self.mocap = int(model.body("button").mocapid[0])
        self.mocap_pos = sims.mocap_pos  # [m, nmocap, 3]: the state view's, on every backend
        self.cap_top = TABLE_TOP + 2 * HOUSING_HALF[2] + CAP_HEIGHT

    def pressed(self) -> np.ndarray:
        return np.clip(self.sims.qpos[:, self.button_q] / self.task.config.travel, 0.0, 1.0)

    def reset(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        c = self.task.config
        noise = np.array([r.uniform(-1, 1, size=5) for r in rngs]).reshape(-1, 5)
        xy = np.asarray(c.object_xy) + c.xy_noise * noise[:, :2]
        self.place_object(rows, xy, c.yaw_noise * noise[:, 2])
        self.mocap_pos[rows, self.mocap, :2] = (
            np.asarray(c.button_xy) + c.button_noise * noise[:, 3:5]
        )
        self.mocap_pos[rows, self.mocap, 2] = TABLE_TOP
        self.sims.qpos[rows, self.button_q] = 0.0
        self.sims.qvel[rows, self.button_v] = 0.0

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        success = self.pressed() >= self.task.config.success_pressed
        return success, np.zeros_like(success)

    def derive(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        out["button_pos"][rows, :2] = self.mocap_pos[:, self.mocap, :2]
        out["button_pos"][rows, 2] = self.cap_top
        out["button_pressed"][rows, 0] = self.pressed()
