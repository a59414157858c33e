"""The kitchen tasks' own terms: the fridge's ordered subtasks and the button's spring."""

from __future__ import annotations

import numpy as np

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.job import run_job


def test_fridge_reports_ordered_subtasks(make_cfg, tmp_path) -> None:
    cfg = make_cfg("env=fridge", "policy=scripted", "num_envs=8", "length.n=8")
    metrics = run_job(cfg, tmp_path, show=False).metrics
    rates = metrics["subtask_success_rate"]
    assert set(rates) == {"place", "close"}
    # close only counts after place, and success needs both.
    assert rates["place"] >= rates["close"] >= metrics["success_rate"]
    assert metrics["success_rate"] >= 0.9


def test_fridge_close_does_not_count_before_place(make_cfg) -> None:
    job = validate(make_cfg("env=fridge", "num_envs=2"))
    env = SimApp.get(job).make_env(job)
    try:
        env.reset(EpisodeSource(0, None))
        group = env.groups[0]
        group.sims.qpos[:, group.task.door_q] = 0.0  # shut the door with the object outside
        result = env.step(np.zeros((2, env.spec.action_dim)))
        assert not result.terminated.any()
        assert not group.task.subtasks["close"].any()
        assert not group.task.subtasks["place"].any()
    finally:
        env.close()


def test_button_springs_back_up(make_cfg) -> None:
    job = validate(make_cfg("env=press_button", "num_envs=2"))
    env = SimApp.get(job).make_env(job)
    try:
        obs = env.reset(EpisodeSource(0, None))
        assert obs["button_pos"][0, :2].tolist() != obs["button_pos"][1, :2].tolist()
        group = env.groups[0]
        group.sims.qpos[:, group.task.button_q] = 0.5 * group.task.task.config.travel
        for _ in range(25):
            obs = env.step(np.zeros((2, env.spec.action_dim))).obs
        assert (obs["button_pressed"][:, 0] < 0.1).all()
    finally:
        env.close()
