"""Compose a scene with MjSpec: table + embodiment + task fixtures + one object.

One composition serves both backends: MuJoCo compiles the spec, Isaac Lab converts it to USD.
"""

from __future__ import annotations

import mujoco

from arena_eval.envs.mujoco.embodiments.base import Embodiment
from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.tasks.base import Task


def compose(
    task: Task, embodiment: Embodiment, obj: ObjectSpec, physics_hz: float, extras=None
) -> mujoco.MjModel:
    return compose_spec(task, embodiment, obj, physics_hz, extras).compile()


def compose_spec(
    task: Task, embodiment: Embodiment, obj: ObjectSpec, physics_hz: float, extras=None
) -> mujoco.MjSpec:
    """The scene as an uncompiled spec: MuJoCo compiles it; Isaac Lab converts it to USD."""
    world = mujoco.MjSpec()
    world.modelname = f"{task.name}-{embodiment.name}-{obj.name}"
    world.compiler.degree = False  # every angle in our specs and the robot files is in radians
    world.option.timestep = 1.0 / physics_hz
    # implicitfast integrates the servos' damping implicitly: stable at 500 Hz with stiff gains.
    world.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    world.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    world.visual.global_.offwidth = 640
    world.visual.global_.offheight = 480
    world.worldbody.add_light(
        pos=[0.5, 0, 2.0], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    )
    world.worldbody.add_camera(name="front", pos=[1.6, 0, 0.9], xyaxes=[0, 1, 0, -0.45, 0, 0.9])
    embodiment.attach(world)
    task.build(world, obj)
    if extras is not None:  # what the job's variations add (distractors)
        extras(world)
    return world
