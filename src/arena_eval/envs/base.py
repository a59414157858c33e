"""The backend-neutral env protocol: what every simulator backend provides to the rollout.

Batched over ``num_envs`` (first dimension = env), like Isaac Lab's vectorized envs. Policies
see only an :class:`EnvSpec` and observation dicts; they never import a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ArraySpec:
    """Shape (without the env dimension) and dtype of one observation or the action."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class EnvSpec:
    """Everything a policy may know about an env without touching the simulator."""

    task: str
    embodiment: str
    num_envs: int
    observations: dict[str, ArraySpec]
    action: ArraySpec
    action_names: tuple[str, ...]
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    action_mode: str  # "ee_delta" | "joint_pos"
    control_hz: float
    max_episode_steps: int
    objects: tuple[str, ...] = ()
    # Static, privileged facts about the task layout (hinge positions, region sizes ...)
    # that scripted experts may read. Plain JSON-able values only.
    task_info: dict[str, Any] = field(default_factory=dict)
    # The same for the embodiment: named action and joint groups (``action_groups``:
    # name -> [start, stop) of the action vector), hands, frames. JSON-able.
    embodiment_info: dict[str, Any] = field(default_factory=dict)

    @property
    def action_dim(self) -> int:
        return self.action.shape[0]


@dataclass
class EpisodeRecord:
    """One finished episode: what metrics and episodes.csv are computed from."""

    episode_index: int
    env_id: int
    seed: int
    object: str
    success: bool
    length: int
    outcome: str  # "success" | "failure" | "timeout"
    object_moved: bool = False
    door_moved: bool | None = None  # None for tasks without an articulated door
    subtasks: dict[str, bool] = field(default_factory=dict)
    rank: int = 0
    # The episode's drawn variation values, "<variation>.<parameter>" -> number or category.
    variations: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Env(Protocol):
    """A batched env. Finished envs are reset automatically inside :meth:`step`."""

    spec: EnvSpec

    def reset(self, episodes: EpisodeSource) -> dict[str, np.ndarray]:
        """Start every env on the next episodes from ``episodes``; return observations."""
        ...

    def step(self, actions: np.ndarray) -> StepResult:
        """Advance the active envs by one control step."""
        ...

    def close(self) -> None: ...


@dataclass
class StepResult:
    obs: dict[str, np.ndarray]
    reward: np.ndarray  # [num_envs]
    terminated: np.ndarray  # [num_envs] bool: success or failure ended the episode
    truncated: np.ndarray  # [num_envs] bool: time limit
    episodes: list[EpisodeRecord]  # episodes that finished in this step
    reset_env_ids: np.ndarray  # envs that started a new episode in this step
    active: np.ndarray  # [num_envs] bool: envs still running an episode that counts
    stepped: int = 0  # envs that were stepped (the env-steps this step contributed)


class EpisodeSource:
    """Hands out episode indices and their seeds; ``None`` once the budget is spent.

    Episode ``k`` always gets the same seed for a run seed, whichever env runs it, so the set
    of episodes does not depend on ``num_envs`` (or on the number of ranks, which take
    interleaved indices).
    """

    def __init__(self, seed: int, budget: int | None, start: int = 0, stride: int = 1) -> None:
        self.seed = seed
        self.budget = budget
        self._next = start
        self._stride = stride

    def next(self) -> tuple[int, int] | None:
        if self.budget is not None and self._next >= self.budget:
            return None
        index = self._next
        self._next += self._stride
        return index, episode_seed(self.seed, index)


def episode_seed(run_seed: int, episode_index: int) -> int:
    """A 32-bit seed for one episode, derived from the run seed and the episode index."""
    return int(np.random.SeedSequence([run_seed, episode_index]).generate_state(1)[0])


def task_space_spec(spec: EnvSpec, ik) -> EnvSpec:
    """The spec of a joint-space env as its IK twin embodiment ``ik`` states it: the twin's
    action layout and groups (what a task-space policy on that env plans in)."""
    layout = ik.layout
    return replace(
        spec,
        action=ArraySpec((layout.dim,)),
        action_names=layout.names,
        action_low=layout.low,
        action_high=layout.high,
        action_mode=layout.mode,
        embodiment_info={**ik.info(), "task_space_of": spec.embodiment},
    )
