"""policy=gr00t against a strict fake GR00T server (tests/gr00t_fake.py), a real process.

No installable package serves GR00T N1.5/N1.6 on a CPU; the fake is written from the protocol's
facts and rejects any request a real GR1 server would not take.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arena_eval.config import validate
from arena_eval.envs import spec_from_job
from arena_eval.job import run_job
from arena_eval.policies.base import PolicyError, make_policy
from arena_eval.policies.gr00t import fit_image
from tests.remote_helpers import free_port

ROOT = Path(__file__).parents[1]
GR1 = ["env=fridge", "embodiment=gr1_joint", "embodiment.params.hands=fingers",
       "object=ranch_dressing_bottle", "enable_cameras=true", "cameras.names=[head]",
       "cameras.width=64", "cameras.height=64"]  # fmt: skip


@contextlib.contextmanager
def fake(tmp_path: Path, version: str, *args: str) -> Iterator[tuple[int, Path]]:
    port, log = free_port(), tmp_path / f"requests-{version}.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.gr00t_fake", "--port", str(port), "--version", version,
         "--log", str(log), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        yield port, log
    finally:
        proc.kill()
        proc.wait(timeout=5)


def requests(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def spec_for(make_cfg, *overrides: str):
    return spec_from_job(validate(make_cfg(*GR1, "num_envs=3", *overrides)))


def policy_cfg(port: int, **extra) -> dict:
    return {"name": "gr00t", "port": port, "image_size": [64, 64], "timeout_s": 2.0, **extra}


def observations(spec, rng) -> dict[str, np.ndarray]:
    obs = {k: rng.standard_normal((spec.num_envs, *s.shape)).astype(s.dtype)
           for k, s in spec.observations.items() if s.dtype != "uint8"}  # fmt: skip
    obs["image_head"] = rng.integers(0, 255, (spec.num_envs, 64, 64, 3), dtype=np.uint8)
    return obs


@pytest.mark.integration
@pytest.mark.parametrize("version", ["n1.5", "n1.6"])
def test_each_env_gets_the_chunk_computed_from_its_own_state(version, make_cfg, tmp_path):
    spec = spec_for(make_cfg)
    with fake(tmp_path, version, "--image", "64", "64") as (port, log):
        policy = make_policy(policy_cfg(port, action_chunk_length=4), spec)
        try:
            assert policy.modality.version == version
            assert policy.modality.horizon == 16
            policy.set_task_description("put the bottle in the fridge")
            obs = observations(spec, np.random.default_rng(0))
            groups = spec.embodiment_info["joint_groups"]

            def check(action, env, k):  # chunk step k of the chunk env asked for with obs
                for name, (a, b) in spec.embodiment_info["action_groups"].items():
                    j0, j1 = groups[name]
                    want = obs["joint_pos"][env, j0:j1] + 0.01 * (k + 1)
                    np.testing.assert_allclose(action[env, a:b], want, rtol=1e-5, atol=1e-5)

            for k in range(2):
                action = policy.get_action(obs)
                for env in range(3):
                    check(action, env, k)
            before = obs["joint_pos"].copy()
            obs["joint_pos"][1] += 1.0  # env 1 resets: it alone asks for a new chunk
            policy.reset([1])
            action = policy.get_action(obs)
            check(action, 1, 0)
            obs["joint_pos"][[0, 2]] = before[[0, 2]]
            check(action, 0, 2)  # the others play on from their first chunk
            check(action, 2, 2)
        finally:
            policy.close()
    calls = [r for r in requests(log) if r["endpoint"] == "get_action"]
    assert [c["batch"] for c in calls] == [3, 1]
    assert calls[0]["instructions"] == ["put the bottle in the fridge"] * 3
    assert all("rejected" not in r for r in requests(log))


@pytest.mark.integration
def test_a_whole_job_runs_with_cameras_and_records_the_protocol(make_cfg, tmp_path):
    with fake(tmp_path, "n1.6", "--image", "64", "64") as (port, log):
        cfg = make_cfg(*GR1, "num_envs=2", "length=steps", "length.n=20", "policy=gr00t",
                       f"policy.port={port}", "policy.image_size=[64,64]",
                       "policy.action_chunk_length=8",
                       "language_instruction=put the bottle in the fridge")  # fmt: skip
        result = run_job(cfg, tmp_path / "job", show=False)
    stats = result.results["timing"]["policy_stats"]
    assert stats["gr00t_version"] == "n1.6"
    assert stats["infer_calls"] == 3  # steps 0, 8, 16
    calls = [r for r in requests(log) if r["endpoint"] == "get_action"]
    assert len(calls) == 3 and all(c["batch"] == 2 for c in calls)
    assert calls[0]["instructions"] == ["put the bottle in the fridge"] * 2


@pytest.mark.integration
def test_waist_groups_must_match_on_both_sides(make_cfg, tmp_path):
    with fake(tmp_path, "n1.5", "--waist", "--image", "64", "64") as (port, _):
        with pytest.raises(PolicyError, match="waist") as err:
            make_policy(policy_cfg(port), spec_for(make_cfg))
        assert "does not fit gr1_joint" in str(err.value)
        policy = make_policy(policy_cfg(port), spec_for(make_cfg, "embodiment.params.waist=true"))
        assert set(policy.action_slices) == {"left_arm", "right_arm", "left_hand", "right_hand",
                                             "waist"}  # fmt: skip
        policy.close()


@pytest.mark.integration
def test_a_wrong_image_size_is_rejected_by_the_server_and_reported(make_cfg, tmp_path):
    spec = spec_for(make_cfg)
    with fake(tmp_path, "n1.5") as (port, log):  # the server wants 256 x 256
        policy = make_policy(policy_cfg(port), spec)
        with pytest.raises(PolicyError, match="shape"):
            policy.get_action(observations(spec, np.random.default_rng(0)))
        policy.close()
    assert "ego_view" in requests(log)[-1]["rejected"]


@pytest.mark.integration
def test_error_reply_timeout_dead_server_and_pickle_are_clear(make_cfg, tmp_path):
    spec = spec_for(make_cfg)
    obs = observations(spec, np.random.default_rng(0))
    with fake(tmp_path, "n1.6", "--mode", "error", "--image", "64", "64") as (port, _):
        policy = make_policy(policy_cfg(port), spec)
        with pytest.raises(PolicyError, match="CUDA out of memory"):
            policy.get_action(obs)
        policy.close()
    with fake(tmp_path, "n1.6", "--mode", "slow", "--image", "64", "64") as (port, _):
        policy = make_policy(policy_cfg(port, timeout_s=0.5, retry_attempts=2), spec)
        start = time.monotonic()
        with pytest.raises(PolicyError, match="did not answer 'get_action' after 2 attempt"):
            policy.get_action(obs)
        assert time.monotonic() - start < 10  # bounded: 2 attempts of 0.5 s, not a hang
        policy.close()
    with pytest.raises(PolicyError, match="did not answer 'ping'"):
        make_policy(policy_cfg(free_port(), timeout_s=0.3, retry_attempts=2), spec)
    with (
        fake(tmp_path, "n1.5", "--mode", "pickle") as (port, _),
        pytest.raises(PolicyError, match="torch pickle"),
    ):
        make_policy(policy_cfg(port), spec)


@pytest.mark.integration
def test_api_token_is_sent_and_a_wrong_one_refused(make_cfg, tmp_path):
    spec = spec_for(make_cfg)
    with fake(tmp_path, "n1.6", "--token", "s3cret", "--image", "64", "64") as (port, log):
        with pytest.raises(PolicyError, match="Unauthorized"):
            make_policy(policy_cfg(port, api_token="wrong"), spec)
        policy = make_policy(policy_cfg(port, api_token="s3cret"), spec)
        policy.close()
    assert all(r["token"] for r in requests(log))


def test_gr00t_needs_joint_actions_and_its_camera(make_cfg):
    with pytest.raises(PolicyError, match="joint-space embodiment"):
        make_policy(policy_cfg(free_port()), spec_from_job(validate(make_cfg("embodiment=gr1_ik"))))
    with pytest.raises(PolicyError, match=r"enable_cameras=true cameras.names=\[head\]"):
        make_policy(
            policy_cfg(free_port()), spec_from_job(validate(make_cfg("embodiment=gr1_joint")))
        )


def test_fit_image_keeps_the_aspect_and_pads():
    image = np.full((1, 120, 160, 3), 200, np.uint8)
    out = fit_image(image, (256, 256))
    assert out.shape == (1, 256, 256, 3)
    assert (out[0, 0] == 0).all() and (out[0, 128] == 200).all()  # padded rows, image rows
    assert fit_image(out, (256, 256)) is out


def test_gr1s_default_cameras_include_the_head_for_the_ego_view(make_cfg):
    spec = spec_from_job(validate(make_cfg("embodiment=gr1_joint", "enable_cameras=true")))
    assert {"image_front", "image_wrist", "image_head"} <= set(spec.observations)
