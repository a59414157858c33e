"""A task-space policy driving a joint-space embodiment through the env's own IK.

The reference's GR1 jobs name ``gr1_joint``; the scripted expert plans end-effector motions.
The job hands such a policy the env's task-space view (the spec of the matching IK
embodiment, e.g. ``gr1_ik``) and wraps it here, so each of its actions becomes the joint
targets the IK computes from the current state. No backend is imported: the view is an object
the job passes in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena_eval.policies.base import Policy, PolicyError


class TaskSpacePolicy(Policy):
    """Wraps ``inner`` (built on ``task_space.spec``); emits the env's joint-space actions."""

    # The IK turns one step's deltas into targets from the state it sees: one step per call.
    chunk_length = 1

    def __init__(self, inner: Policy, task_space: Any, spec) -> None:
        super().__init__(inner.config, spec)
        self.inner = inner
        self.task_space = task_space
        self.name = inner.name

    def reset(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        self.inner.reset(env_ids)

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.task_space(np.asarray(self.inner.get_action(obs), dtype=np.float64))

    def get_action_chunk(self, obs: Mapping[str, np.ndarray], env_ids: np.ndarray) -> np.ndarray:
        # The IK reads the whole env's current state: one step, for every env at once.
        if not np.array_equal(np.asarray(env_ids), np.arange(self.spec.num_envs)):
            raise PolicyError(
                "a task-space policy on a joint-space embodiment plans one step for every env "
                "at once (the IK reads the simulator); it cannot serve a subset of envs"
            )
        return self.get_action(obs)[:, None, :]

    def set_task_description(self, text: str) -> None:
        self.inner.set_task_description(text)

    def length(self) -> tuple[str, int] | None:
        return self.inner.length()

    def close(self) -> None:
        self.inner.close()
