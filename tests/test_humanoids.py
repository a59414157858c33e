"""Humanoid embodiments (GR1, G1): the home pose holds, joint targets and grips do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.job import run_job

HUMANOIDS = ["gr1_joint", "g1_joint"]


def make_env(make_cfg, embodiment: str, num_envs: int = 2):
    job = validate(make_cfg("env=lift_object", f"embodiment={embodiment}", f"num_envs={num_envs}"))
    return SimApp.get(job).make_env(job)


def home_action(env) -> np.ndarray:
    """Hold the home pose: the current joint targets, both hands open."""
    robot = env.groups[0].robot
    return np.concatenate([robot.home_q, [1.0, 1.0]])[None].repeat(env.spec.num_envs, 0)


@pytest.mark.parametrize("embodiment", HUMANOIDS)
def test_home_pose_holds_above_the_table(make_cfg, embodiment: str) -> None:
    env = make_env(make_cfg, embodiment)
    try:
        obs = env.reset(EpisodeSource(0, None))
        home = env.groups[0].robot.home_q
        action = home_action(env)
        for _ in range(100):  # 2 s at 50 Hz
            obs = env.step(action).obs
        assert np.abs(obs["joint_pos"] - home).max() < 0.02
        assert np.abs(obs["joint_vel"]).max() < 0.05
        for hand in ("right", "left"):
            pos = obs[f"{hand}_ee_pos"]
            assert (pos[:, 2] > 0.1).all(), (hand, pos)  # above the table top
            assert (pos[:, 0] > 0.2).all(), (hand, pos)  # reaching out over the table
        assert (obs["right_ee_pos"][:, 1] < 0).all() and (obs["left_ee_pos"][:, 1] > 0).all()
        assert np.abs(obs["hand_closure"]).max() < 0.05  # open
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", HUMANOIDS)
def test_joint_targets_move_only_their_joints(make_cfg, embodiment: str) -> None:
    env = make_env(make_cfg, embodiment)
    try:
        env.reset(EpisodeSource(0, None))
        names = env.spec.action_names
        action = home_action(env)
        # Env 0 bends its right elbow by 0.3 rad (towards the middle of the range); env 1 holds.
        elbow = next(i for i, n in enumerate(names) if n.startswith("r_elbow_pitch"))
        low, high = env.spec.action_low[elbow], env.spec.action_high[elbow]
        step = 0.3 if action[0, elbow] + 0.3 < high else -0.3
        assert low < action[0, elbow] + step < high
        action[0, elbow] += step
        for _ in range(50):
            obs = env.step(action).obs
        error = obs["joint_pos"] - action[:, : len(env.groups[0].robot.home_q)]
        assert np.abs(error).max() < 0.03
        moved = np.abs(obs["joint_pos"][0] - obs["joint_pos"][1])
        assert moved[elbow] > 0.25 and np.delete(moved, elbow).max() < 0.03
        # Only the right hand moved: the left hand did not.
        assert np.linalg.norm(obs["right_ee_pos"][0] - obs["right_ee_pos"][1]) > 0.03
        assert np.linalg.norm(obs["left_ee_pos"][0] - obs["left_ee_pos"][1]) < 0.005
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", HUMANOIDS)
def test_grip_closes_its_hand(make_cfg, embodiment: str) -> None:
    env = make_env(make_cfg, embodiment)
    try:
        env.reset(EpisodeSource(0, None))
        action = home_action(env)
        action[:, -2] = -1.0  # close the right hand, keep the left open
        for _ in range(25):
            obs = env.step(action).obs
        closure = obs["hand_closure"]
        assert (closure[:, 0] > 0.9).all(), closure
        assert (closure[:, 1] < 0.05).all(), closure
        action[:, -2] = 0.0  # half way
        for _ in range(25):
            obs = env.step(action).obs
        assert np.allclose(obs["hand_closure"][:, 0], 0.5, atol=0.05), obs["hand_closure"]
    finally:
        env.close()


def test_scripted_expert_refuses_humanoids(make_cfg, tmp_path) -> None:
    from arena_eval.policies.base import PolicyError

    with pytest.raises(PolicyError, match="Use an IK embodiment"):
        run_job(make_cfg("policy=scripted", "embodiment=gr1_joint"), tmp_path, show=False)


def test_layouts_name_every_action() -> None:
    from arena_eval.envs.mujoco.embodiments import make_embodiment

    for name, dim in (("gr1_joint", 22), ("g1_joint", 13)):
        layout = make_embodiment(name).layout
        assert layout.mode == "joint_pos" and layout.dim == dim
        assert layout.names[-2:] == ("right_grip", "left_grip")
        assert all(lo < hi for lo, hi in zip(layout.low, layout.high, strict=True))
