"""Policies for tests that need a job to fail or to take its time (used by dotted path)."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from arena_eval.policies.builtin import ZeroAction


class FailingPolicy(ZeroAction):
    """Raises at step ``fail_at`` while the file named by $ARENA_TEST_FAIL_MARKER exists."""

    @dataclasses.dataclass
    class Config:
        fail_at: int = 12

    def __init__(self, config, spec) -> None:
        super().__init__(config, spec)
        self.steps = 0

    def get_action(self, obs):
        self.steps += 1
        marker = os.environ.get("ARENA_TEST_FAIL_MARKER")
        if self.steps >= self.config.fail_at and marker and Path(marker).exists():
            raise RuntimeError(f"planned failure at step {self.steps}")
        return super().get_action(obs)


class SlowPolicy(ZeroAction):
    """Sleeps each step, so a test can signal a job while it runs."""

    @dataclasses.dataclass
    class Config:
        sleep_s: float = 0.01

    def get_action(self, obs):
        time.sleep(self.config.sleep_s)
        return super().get_action(obs)


class RankFailingPolicy(ZeroAction):
    """Raises on torchrun rank 1 only, at its fifth step."""

    def __init__(self, config, spec) -> None:
        super().__init__(config, spec)
        self.steps = 0

    def get_action(self, obs):
        self.steps += 1
        if os.environ.get("RANK") == "1" and self.steps == 5:
            raise RuntimeError("rank 1 broke on purpose")
        return super().get_action(obs)
