"""The console script end to end, as a user runs it: outputs, reproduction, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arena_eval.results import read_episodes

EXE = shutil.which("arena-eval") or str(Path(os.sys.executable).parent / "arena-eval")


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def job_dir(root: Path) -> Path:
    (results,) = root.glob("outputs/*/runs/*/results.json")
    return results.parent


@pytest.mark.integration
def test_single_job_writes_results_and_reproduces(tmp_path: Path) -> None:
    proc = cli(
        "env=lift_object",
        "embodiment=franka_ik",
        "object=cracker_box",
        "policy=scripted",
        "num_envs=4",
        "length=episodes",
        "length.n=6",
        "name=cli_test",
        cwd=tmp_path,
    )
    assert "success_rate" in proc.stderr
    out = job_dir(tmp_path)
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["metrics"]["num_episodes"] == 6
    assert results["job"]["policy"] == "scripted"
    assert results["timing"]["env_steps_per_s"] > 0
    assert results["provenance"]["versions"]["mujoco"].startswith("4.")
    rows = read_episodes(out / "episodes.csv")
    assert [int(r["episode_index"]) for r in rows] == list(range(6))
    assert (out / ".hydra" / "config.yaml").is_file()

    # The saved config re-runs the job with identical metrics: the command results.json names.
    command = results["reproduce"].split()
    assert command[0] == "arena-eval"
    rerun = tmp_path / "rerun"
    rerun.mkdir()
    cli(*command[1:], cwd=rerun)
    again = json.loads((job_dir(rerun) / "results.json").read_text())
    assert again["metrics"] == results["metrics"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("env=lift_objekt", "Available options in 'env'"),
        ("object=nope", "Available options in 'object'"),
        ("num_envs=0", "num_envs must be a positive integer"),
        ("policy.name=nope", "unknown policy 'nope'"),
    ],
)
def test_bad_input_fails_clearly(tmp_path: Path, override: str, expected: str) -> None:
    proc = cli(override, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert expected in text
    assert "Traceback" not in text


@pytest.mark.integration
def test_help_cfg_and_version(tmp_path: Path) -> None:
    help_text = cli("--help", cwd=tmp_path).stdout
    assert (
        "env: fridge, isaaclab_task, kitchen_pick_and_place, lift_object, microwave, open_microwave"
        in help_text
    )
    assert "object: alphabet_soup_can, bbq_sauce_bottle, cracker_box" in help_text
    job = cli("--cfg", "job", "policy=scripted", cwd=tmp_path).stdout
    assert "name: scripted" in job
    assert "Hydra" in cli("--info", cwd=tmp_path).stdout
    assert cli("--version", cwd=tmp_path).stdout.startswith("arena-eval ")
    assert not (tmp_path / "outputs").exists()  # inspecting runs nothing


def test_isaaclab_outside_its_venv_says_how_to_get_it() -> None:
    """In the main venv (no Isaac Lab), sim=isaaclab fails at once with the setup command."""
    import importlib.util

    if importlib.util.find_spec("isaaclab") is not None:
        pytest.skip("Isaac Lab is installed in this venv")
    proc = subprocess.run(
        [sys.executable, "-m", "arena_eval", "sim=isaaclab", "length=steps", "length.n=1",
         "progress=false", "hydra.run.dir=/tmp/arena-isaac-refusal"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "make setup-isaac" in proc.stdout + proc.stderr
