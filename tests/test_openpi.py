"""policy=openpi against openpi's real server (openpi-server 0.1.0, its WebsocketPolicyServer)
serving policies defined in tests/openpi_serve.py, in its own venv (make setup-openpi)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arena_eval.config import validate
from arena_eval.envs import spec_from_job
from arena_eval.geometry import rotvec_from_quat
from arena_eval.job import run_job
from arena_eval.policies.base import PolicyError, make_policy
from tests.remote_helpers import free_port

ROOT = Path(__file__).parents[1]
OPENPI_PY = ROOT / ".venv-openpi" / "bin" / "python"
REQUIRED = os.environ.get("ARENA_OPENPI_REQUIRED") == "1"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not OPENPI_PY.exists() and not REQUIRED,
        reason="openpi-server venv missing (make setup-openpi)",
    ),
]
CAMERAS = ["enable_cameras=true", "cameras.names=[front,wrist]", "cameras.width=64",
           "cameras.height=64"]  # fmt: skip
PRESS = {"observation/state": ["ee_pos", "button_pos"]}


@contextlib.contextmanager
def served(policy: str, *args: str) -> Iterator[tuple[int, subprocess.Popen]]:
    port = free_port()
    proc = subprocess.Popen(
        [str(OPENPI_PY), str(ROOT / "tests" / "openpi_serve.py"), "--port", str(port),
         "--policy", policy, *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"openpi server did not start: {proc.stderr.read()}"
                    ) from None
                time.sleep(0.1)
        yield port, proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_each_env_gets_the_chunk_the_server_computed_for_its_own_observation(make_cfg):
    spec = spec_from_job(validate(make_cfg("env=lift_object", "num_envs=3", *CAMERAS)))
    rng = np.random.default_rng(0)
    obs = {k: rng.standard_normal((3, *s.shape)).astype(s.dtype)
           for k, s in spec.observations.items() if s.dtype != "uint8"}  # fmt: skip
    obs["ee_quat"] /= np.linalg.norm(obs["ee_quat"], axis=1, keepdims=True)
    for key in ("image_front", "image_wrist"):
        obs[key] = rng.integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    with served("echo") as (port, _):
        policy = make_policy({"name": "openpi", "port": port, "action_chunk_length": 4,
                              "presets": _presets()}, spec)  # fmt: skip
        try:
            assert policy.metadata == {"policy": "echo"}
            state = np.concatenate(
                [obs["ee_pos"], rotvec_from_quat(obs["ee_quat"].astype(np.float64)),
                 obs["joint_pos"][:, 7:9]], axis=1,
            ).astype(np.float32)  # fmt: skip
            for k in range(4):
                action = policy.get_action(obs)
                want = state[:, :7] + np.float32(0.01) * (k + 1)
                np.testing.assert_allclose(action[:, :6], want[:, :6], atol=1e-5)
                # LIBERO's gripper (-1 open, +1 closed) onto ours (+1 open, -1 closed)
                np.testing.assert_allclose(action[:, 6], np.clip(-want[:, 6], -1, 1), atol=1e-5)
            assert policy.stats()["requests"] == 3  # one chunk per env, 4 steps played
        finally:
            policy.close()


def _presets() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "conf" / "policy" / "openpi.yaml").read_text())["presets"]


def press_cfg(make_cfg, port: int, *overrides: str):
    cfg = make_cfg("env=press_button", "policy=openpi", f"policy.port={port}",
                   "policy.preset=null", "policy.gripper_index=6", "policy.gripper=[1.0,-1.0]",
                   *overrides)  # fmt: skip
    cfg.policy.state = PRESS
    return cfg


def test_a_served_controller_solves_press_button(make_cfg, tmp_path):
    with served("press") as (port, _):
        result = run_job(press_cfg(make_cfg, port, "num_envs=4", "length.n=10"), tmp_path,
                         show=False)  # fmt: skip
    assert result.metrics["num_episodes"] == 10
    assert result.metrics["success_rate"] >= 0.9, result.metrics
    stats = result.results["timing"]["policy_stats"]
    assert stats["requests"] > 10 and stats["reconnects"] == 0


def test_a_model_error_arrives_as_a_clear_error(make_cfg, tmp_path):
    spec = spec_from_job(validate(make_cfg("env=lift_object", "num_envs=1", *CAMERAS)))
    obs = {k: np.zeros((1, *s.shape), dtype=s.dtype) for k, s in spec.observations.items()}
    obs["ee_quat"][:, 0] = 1.0
    with served("echo", "--fail-after", "1") as (port, _):
        policy = make_policy({"name": "openpi", "port": port, "presets": _presets(),
                              "action_chunk_length": 1}, spec)  # fmt: skip
        policy.get_action(obs)
        with pytest.raises(PolicyError, match="planned model failure"):
            policy.get_action(obs)
        policy.close()


def test_a_server_killed_mid_run_fails_the_job_and_keeps_its_episodes(make_cfg, tmp_path):
    with served("press") as (port, proc):
        # More episodes than any machine runs before the kill (200 took 4.9 s on a quick day).
        cfg = press_cfg(make_cfg, port, "num_envs=2", "length.n=20000", "policy.timeout_s=2",
                        "policy.retry_attempts=2")  # fmt: skip
        killer = threading.Timer(6.0, proc.kill)
        killer.start()
        start = time.monotonic()
        with pytest.raises(PolicyError, match="openpi"):
            run_job(cfg, tmp_path, show=False)
        killer.cancel()
    assert time.monotonic() - start < 60  # bounded: no hang on a dead server
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "failed"
    rows = (tmp_path / "episodes.csv").read_text().strip().splitlines()[1:]
    assert results["metrics"].get("num_episodes", 0) == len(rows) > 0


def test_missing_cameras_and_unknown_sources_say_what_to_do(make_cfg):
    spec = spec_from_job(validate(make_cfg("env=lift_object")))
    with pytest.raises(PolicyError, match="enable_cameras=true"):
        make_policy({"name": "openpi", "presets": _presets()}, spec)
    with pytest.raises(PolicyError, match="needs observation 'nope'"):
        make_policy({"name": "openpi", "preset": None, "state": {"s": ["nope"]}}, spec)
