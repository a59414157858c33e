"""Shared fixtures: compose configs with Hydra's compose API against the real conf/ tree."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from omegaconf import DictConfig

from arena_eval.config import compose as compose_config

os.environ.setdefault("HYDRA_FULL_ERROR", "1")


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    """Compose a job config from overrides; small and quiet by default."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(["progress=false", "num_envs=4", *overrides])

    return make
