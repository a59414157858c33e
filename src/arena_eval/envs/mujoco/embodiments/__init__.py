"""Embodiments of the MuJoCo backend: one module per robot family, registered by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arena_eval.envs.mujoco.embodiments.base import Embodiment

EmbodimentFactory = Callable[[dict[str, Any]], Embodiment]


def _franka(mode: str) -> EmbodimentFactory:
    def make(params: dict[str, Any]) -> Embodiment:
        from arena_eval.envs.mujoco.embodiments.franka import Franka

        return Franka(mode=mode, **params)

    return make


def _humanoid(model: str, mode: str) -> EmbodimentFactory:
    def make(params: dict[str, Any]) -> Embodiment:
        from arena_eval.envs.mujoco.embodiments.humanoid import Humanoid

        if "mode" in params:
            raise ValueError(
                f"embodiment.params.mode: the embodiment's name sets it ({model}_ik: ee_delta, "
                f"{model}_joint: joint_pos); choose the embodiment instead"
            )
        return Humanoid(model=model, mode=mode, **params)

    return make


# Sorted registry: adding an embodiment is one entry here, one module and one config file.
EMBODIMENTS: dict[str, EmbodimentFactory] = {
    "franka_ik": _franka("ee_delta"),
    "franka_joint_pos": _franka("joint_pos"),
    "g1_ik": _humanoid("g1", "ee_delta"),
    "g1_joint": _humanoid("g1", "joint_pos"),
    "gr1_ik": _humanoid("gr1", "ee_delta"),
    "gr1_joint": _humanoid("gr1", "joint_pos"),
}


def make_embodiment(name: str, params: dict[str, Any] | None = None) -> Embodiment:
    try:
        factory = EMBODIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown embodiment {name!r}; available: {', '.join(sorted(EMBODIMENTS))}"
        ) from None
    return factory(dict(params or {}))
