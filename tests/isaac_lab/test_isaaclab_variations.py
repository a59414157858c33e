"""Variations on sim=isaaclab: the object pose through the shared task state; the rest refused.

Real Isaac Lab 3.0 on the CPU (kit-less Newton), like the rest of this suite.
"""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import ConfigError, validate
from arena_eval.config import compose as compose_config
from arena_eval.envs.base import EpisodeSource
from arena_eval.job import run_job


def cfg(*overrides: str):
    return compose_config(["sim=isaaclab", "progress=false", "env=lift_object", *overrides])


def reset_positions(*overrides: str) -> tuple[np.ndarray, list[dict]]:
    job = validate(cfg("num_envs=3", *overrides))
    env = SimApp.get(job).make_env(job)
    try:
        obs = env.reset(EpisodeSource(5, None))
        return obs["object_pos"].copy(), [dict(v) for v in env.book.values]
    finally:
        env.close()


def test_object_pose_moves_the_object_in_the_simulation() -> None:
    """Read back from Isaac Lab's own state after the reset: the plain pose plus the offset."""
    plain, _ = reset_positions()
    moved, values = reset_positions(
        "variations=[object_pose]", "variations.object_pose.x=[-0.04,0.04]",
        "variations.object_pose.y=[-0.04,0.04]",
    )  # fmt: skip
    offsets = np.array([[v["object_pose.x"], v["object_pose.y"]] for v in values])
    assert np.abs(offsets).max() > 0.005  # the draw really moved something
    np.testing.assert_allclose(moved[:, :2] - plain[:, :2], offsets, atol=2e-3)


def test_variations_are_recorded_and_analysed_on_isaaclab(tmp_path) -> None:
    run_job(cfg("policy=scripted", "num_envs=2", "length.n=4", "variations=[object_pose]"),
            tmp_path, show=False)  # fmt: skip
    header = (tmp_path / "episodes.csv").read_text().splitlines()[0]
    assert "var.object_pose.x" in header and "var.object_pose.yaw" in header
    assert (tmp_path / "report.html").is_file()


def test_what_isaaclab_cannot_apply_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="object_mass cannot be applied on sim=isaaclab"):
        validate(cfg("variations=[object_mass]"))
