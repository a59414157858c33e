"""What an embodiment provides: its model in the scene, its action layout, its controller."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.observations import Read, cached_reads, observe


@dataclass(frozen=True)
class ActionLayout:
    mode: str  # "ee_delta" | "joint_pos"
    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.names)


def as_index(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice when it is a run of consecutive ids, else unchanged.

    ``a[:, slice]`` is a view and ``a[:, slice] = x`` one strided copy; an index array gathers
    into a new array every time. The robot's joints and actuators are usually consecutive."""
    index = np.asarray(index)
    if (
        index.ndim == 1
        and index.size
        and np.array_equal(index, np.arange(index[0], index[0] + index.size))
    ):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


class Embodiment:
    """Base class. ``attach`` edits the scene spec; ``bind`` resolves ids in a compiled model."""

    name: str = ""
    layout: ActionLayout

    def attach(self, world) -> None:  # world: mujoco.MjSpec
        raise NotImplementedError

    def observations(self) -> dict[str, ArraySpec]:
        raise NotImplementedError

    def bind(self, model) -> EmbodimentState:
        raise NotImplementedError

    def info(self) -> dict:
        """Static facts a policy may read (action groups, hands ...): plain JSON-able values."""
        return {}

    def cameras(self) -> dict[str, str]:
        """Cameras the embodiment carries: job-facing name (``wrist``) -> MJCF camera name."""
        return {}

    def clear_fixtures(self, height: float | None) -> None:
        """Place the robot so that its ready pose stays ``height`` above the table, where a
        task's fixtures stand under it (see ``Task.fixtures_top``); a fixed-base arm, whose
        ready pose is above its workspace anyway, ignores it."""


class EmbodimentState:
    """An embodiment bound to one compiled model: reads robot state, writes controls."""

    def home(self, qpos: np.ndarray, ctrl: np.ndarray) -> None:
        """Write the home configuration into rows of ``qpos`` and matching ``ctrl``."""
        raise NotImplementedError

    def after_reset(self, rows: np.ndarray) -> None:
        """Called once the reset rows' kinematics are current (controllers latch targets)."""

    def apply(self, actions: np.ndarray, ids: np.ndarray) -> None:
        """Turn actions of the simulations ``ids`` into actuator controls."""
        raise NotImplementedError

    def reads(self) -> list[Read]:
        """The observations read straight from the simulation's arrays (``observations.py``):
        a backend may gather them all at once."""
        return []

    def derive(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        """Write the observations that are computed, not read, into ``out[key][rows]``."""

    def observe(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        """Write this embodiment's observations of every simulation into ``out[key][rows]``."""
        observe(cached_reads(self), out, rows)
        self.derive(out, rows)
