"""Server and evaluation as a user runs them: two console processes over loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena_eval.job import run_job

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, *overrides: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "ARENA_EVAL_SERVER": str(BIN / "arena-eval-server")}
    return subprocess.Popen(
        [str(ROOT / "launchers" / "policy_server.sh"), f"server.port={port}", *overrides],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def evaluate(port: int, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN / "arena-eval"),
            "policy=remote",
            f"policy.port={port}",
            "progress=false",
            *overrides,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def results_of(cwd: Path) -> dict:
    (path,) = cwd.glob("outputs/*/runs/*/results.json")
    return json.loads(path.read_text())


def serve_and_evaluate(
    tmp_path: Path, chunk: int, scene: tuple[str, ...] = (), n: int = 8, num_envs: int = 4
) -> dict:
    port = free_port()
    chunking = f"policy.chunk_length={chunk}"
    server = start_server(port, "policy=scripted", chunking, *scene, cwd=tmp_path)
    try:
        proc = evaluate(
            port,
            "policy.kill_on_exit=true",
            f"num_envs={num_envs}",
            f"length.n={n}",
            *scene,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        assert server.wait(timeout=30) == 0  # kill_on_exit stopped it
    finally:
        server.kill()
    return results_of(tmp_path)


@pytest.mark.integration
def test_remote_expert_matches_the_local_one(tmp_path: Path, make_cfg) -> None:
    remote = serve_and_evaluate(tmp_path, chunk=1)
    local = run_job(
        make_cfg("policy=scripted", "num_envs=4", "length.n=8"), tmp_path / "local", show=False
    )
    assert local.metrics == remote["metrics"]
    stats = remote["timing"]["policy_stats"]
    assert stats and json.dumps(stats)  # network vs model time, recorded per job


@pytest.mark.integration
def test_chunked_remote_expert_still_solves_the_task(tmp_path: Path) -> None:
    """8-step chunks, refilled per env as envs reset at different times."""
    remote = serve_and_evaluate(tmp_path, chunk=8)
    assert remote["metrics"]["num_episodes"] == 8
    assert remote["metrics"]["success_rate"] >= 0.9


@pytest.mark.integration
def test_chunked_remote_expert_hands_over_inside_a_chunk(tmp_path: Path) -> None:
    """GR1 fills the fridge with the left hand and shuts it with the right: 8-step chunks
    that cross the hand-over move each hand only in its own steps."""
    scene = ("env=fridge", "embodiment=gr1_ik", "object=ranch_dressing_bottle")
    remote = serve_and_evaluate(tmp_path, chunk=8, scene=scene, n=10, num_envs=5)
    assert remote["metrics"]["num_episodes"] == 10
    assert remote["metrics"]["success_rate"] >= 0.9, remote["metrics"]
    assert remote["metrics"]["subtask_success_rate"]["close"] >= 0.9


@pytest.mark.integration
def test_lost_server_ends_the_run_with_partial_results(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(port, "policy=scripted", cwd=tmp_path)
    start = time.monotonic()
    evaluation = subprocess.Popen(
        [
            str(BIN / "arena-eval"),
            "policy=remote",
            f"policy.port={port}",
            "progress=false",
            "policy.timeout_s=1",
            "policy.retry_budget_s=2",
            "num_envs=2",
            "length.n=400",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "connected" not in (server.stdout.readline() or ""):
        pass
    time.sleep(2.0)  # let a few episodes finish (each takes ~80 steps)
    server.kill()
    server.wait()
    evaluation.communicate(timeout=60)
    assert evaluation.returncode != 0
    assert time.monotonic() - start < 60  # bounded: timeout + retry budget, never a hang
    results = results_of(tmp_path)
    assert results["status"] == "failed"
    assert "ServerUnavailable" in results["error"] or "did not answer" in results["error"]
    assert 0 < results["metrics"]["num_episodes"] < 400


@pytest.mark.integration
def test_server_refuses_a_network_bind_without_keys(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "arena-eval-server"), "server.host=0.0.0.0", f"server.port={free_port()}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no CURVE keys are set" in proc.stderr
    assert "Traceback" not in proc.stderr
