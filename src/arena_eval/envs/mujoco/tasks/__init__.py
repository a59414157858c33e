"""Tasks of the MuJoCo backend, one module each; the registry is a sorted dict."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arena_eval.envs.mujoco.tasks.base import Task

# name -> "module:Class"; modules import on first use.
TASKS: dict[str, str] = {
    "fridge": "arena_eval.envs.mujoco.tasks.fridge:Fridge",
    "kitchen_pick_and_place": (
        "arena_eval.envs.mujoco.tasks.kitchen_pick_and_place:KitchenPickAndPlace"
    ),
    "lift_object": "arena_eval.envs.mujoco.tasks.lift_object:LiftObject",
    "open_microwave": "arena_eval.envs.mujoco.tasks.open_microwave:OpenMicrowave",
    "press_button": "arena_eval.envs.mujoco.tasks.press_button:PressButton",
}


def task_class(name: str) -> type[Task]:
    try:
        module, _, cls = TASKS[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}") from None
    return getattr(importlib.import_module(module), cls)
