"""Baseline policies: zero actions (the floor) and seeded uniform random actions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from arena_eval.policies.base import Policy, register_policy


def batch_size(obs: Mapping[str, np.ndarray]) -> int:
    """Rows in this call's observations: all envs in a rollout, a subset over the wire."""
    return len(next(iter(obs.values())))


@register_policy("zero_action")
class ZeroAction(Policy):
    """All-zero actions. On ``ee_delta`` embodiments the arm holds still."""

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.zeros((batch_size(obs), self.spec.action_dim), dtype=np.float32)


@register_policy("random")
class RandomAction(Policy):
    @dataclasses.dataclass
    class Config:
        seed: int = 0

    def __init__(self, config: Config, spec) -> None:
        super().__init__(config, spec)
        self._rng = np.random.default_rng(config.seed)
        self._low = np.asarray(spec.action_low, dtype=np.float32)
        self._high = np.asarray(spec.action_high, dtype=np.float32)

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        size = (batch_size(obs), self.spec.action_dim)
        return self._rng.uniform(self._low, self._high, size=size).astype(np.float32)
