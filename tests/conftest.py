"""Shared fixtures: compose configs with Hydra's compose API against the real conf/ tree."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from arena_eval.cli import conf_dir
from arena_eval.config import register_configs

os.environ.setdefault("HYDRA_FULL_ERROR", "1")
register_configs()


def compose_config(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides or []))


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    """Compose a job config from overrides; small and quiet by default."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(["progress=false", "num_envs=4", *overrides])

    return make
