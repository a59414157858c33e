"""policy=remote against a real server process: handshake checks, chunk playback, stats."""

from __future__ import annotations

import time

import numpy as np
import pytest

from arena_eval.envs.base import ArraySpec, EnvSpec
from arena_eval.policies.base import PolicyError, make_policy
from tests.remote_helpers import (
    ACTION_DIM,
    ENV_ID,
    RESETS,
    STATE_DIM,
    STEP,
    TASK_LEN,
    free_port,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.integration


def _spec(num_envs: int = 3, state_dim: int = STATE_DIM, action_dim: int = ACTION_DIM) -> EnvSpec:
    return EnvSpec(
        task="tiny_task",
        embodiment="tiny_arm",
        num_envs=num_envs,
        observations={
            "state": ArraySpec((state_dim,), "float32"),
            "image": ArraySpec((8, 8, 3), "uint8"),  # offered, not needed by the server
        },
        action=ArraySpec((action_dim,)),
        action_names=tuple(f"a{i}" for i in range(action_dim)),
        action_low=(-1.0,) * action_dim,
        action_high=(1.0,) * action_dim,
        action_mode="test",
        control_hz=10.0,
        max_episode_steps=50,
    )


def _obs(spec: EnvSpec) -> dict[str, np.ndarray]:
    n = spec.num_envs
    return {
        "state": np.zeros((n, spec.observations["state"].shape[0]), np.float32),
        "image": np.zeros((n, 8, 8, 3), np.uint8),
    }


@pytest.fixture(scope="module")
def server():
    proc, endpoint = start_server("--chunk", "4")
    yield proc, endpoint
    stop_server(proc)


def test_remote_policy_plays_chunks_and_refills_reset_envs(server) -> None:
    _, endpoint = server
    spec = _spec()
    policy = make_policy({"name": "remote", "endpoint": endpoint, "timeout_s": 3.0}, spec)
    try:
        assert policy.chunk_length == 4
        policy.set_task_description("stack")
        policy.reset(None)
        obs = _obs(spec)
        for step in range(6):
            if step == 2:
                policy.reset(np.array([1]))
            action = policy.get_action(obs)
            assert action.shape == (3, ACTION_DIM)
            np.testing.assert_array_equal(action[:, ENV_ID], [0, 1, 2])
            assert (action[:, TASK_LEN] == len("stack")).all()
        # env 1 restarted its chunk at step 2; the others refilled at step 4.
        np.testing.assert_array_equal(action[:, STEP], [1, 3, 1])
        assert action[1, RESETS] == 2  # reset(None) + reset([1])
        stats = policy.stats()
        assert stats["infer_calls"] == 3 and stats["envs_per_call_mean"] == 2.0
        assert set(stats["roundtrip_ms"]) == {"mean", "p50", "p90", "p99"}
        assert stats["network_ms"]["p50"] <= stats["roundtrip_ms"]["p50"]
    finally:
        policy.close()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (_spec(state_dim=STATE_DIM + 1), r"(?s)does not fit env 'tiny_task'.*float32\[5\]"),
        (_spec(action_dim=ACTION_DIM + 1), "action_dim: the server sends 6, tiny_arm"),
    ],
    ids=["observation", "action_dim"],
)
def test_mismatches_are_clear_errors_before_the_first_step(server, spec, match) -> None:
    _, endpoint = server
    with pytest.raises(PolicyError, match=match):
        make_policy({"name": "remote", "endpoint": endpoint, "timeout_s": 3.0}, spec)


def test_unreachable_server_is_a_clear_error_within_the_budget() -> None:
    config = {
        "name": "remote",
        "port": free_port(),
        "timeout_s": 0.3,
        "retry_budget_s": 0.7,
        "retry_attempts": 3,
    }
    started = time.monotonic()
    with pytest.raises(PolicyError, match=r"(?s)did not answer.*arena-eval-server"):
        make_policy(config, _spec())
    assert time.monotonic() - started < 0.3 + 0.7 + 1.0


def test_curve_settings_must_come_in_pairs(server) -> None:
    _, endpoint = server
    config = {"name": "remote", "endpoint": endpoint, "client_secret_key_file": "x.key_secret"}
    with pytest.raises(PolicyError, match="needs both"):
        make_policy(config, _spec())


def test_kill_on_exit_stops_the_server() -> None:
    proc, endpoint = start_server()
    try:
        policy = make_policy(
            {"name": "remote", "endpoint": endpoint, "kill_on_exit": True}, _spec()
        )
        policy.close()
        assert proc.wait(5) == 0
    finally:
        stop_server(proc)
