"""Multiruns in one process: same metrics as single jobs, failure isolation, resume, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena_eval.job import run_job
from arena_eval.sweep import collect, shorten_labels

BIN = Path(sys.executable).parent
SWEEP = [
    "env=lift_object,open_microwave",
    "object=cracker_box,tomato_soup_can,sugar_box",
    "policy=scripted",
    "num_envs=2",
    "length.n=2",
    "progress=false",
]
FAILING = "policy.name=tests.helpers.FailingPolicy"


def arena(*args: str, cwd: Path, env: dict | None = None, tool: str = "arena-eval"):
    full_env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), **(env or {})}
    return subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=600
    )


def assert_same_as_single_runs(jobs: list[dict], make_cfg, tmp_path: Path) -> None:
    """Each job of a sweep, run on its own (scripted, 2 envs, 2 episodes), gives its metrics."""
    for job in jobs:
        single = run_job(
            make_cfg(
                f"env={job['job']['env']}",
                f"object={job['job']['objects'][0]}",
                "policy=scripted",
                "num_envs=2",
                "length.n=2",
            ),
            tmp_path / "single",
            show=False,
        )
        assert single.metrics == job["metrics"]


def sweep_dir(root: Path, name: str = "default") -> Path:
    (found,) = (root / "outputs" / name / "multiruns").iterdir()
    return found


def results(folder: Path) -> list[dict]:
    return [
        json.loads(p.read_text())
        for p in sorted(
            folder.glob("*/results.json"), key=lambda p: int(p.parent.name.split("_")[0])
        )
    ]


@pytest.mark.integration
def test_multirun_is_one_process_and_matches_single_jobs(tmp_path: Path, make_cfg) -> None:
    proc = arena("-m", *SWEEP, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = sweep_dir(tmp_path)
    jobs = results(folder)
    assert len(jobs) == 6
    assert len({j["app"]["pid"] for j in jobs}) == 1  # one process, one app
    assert [j["app"]["jobs"] for j in jobs] == [1, 2, 3, 4, 5, 6]  # the same app served each
    # Models built once per (env, object) in the process (compiled, or loaded from the
    # compiled-model cache on disk), not per job.
    app = jobs[-1]["app"]
    assert app["models_compiled"] + app["models_loaded"] == 6
    for summary in ("summary.csv", "summary.json", "summary.png"):
        assert (folder / summary).is_file()
    assert_same_as_single_runs(jobs, make_cfg, tmp_path)


@pytest.mark.integration
def test_failed_job_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    marker = tmp_path / "fail"
    marker.touch()
    # Job 0 fails at step 12: its 2 envs have finished 4 five-step episodes by then.
    args = [
        "-m",
        f"{FAILING},zero_action",
        "num_envs=2",
        "length.n=6",
        "progress=false",
        "env.task.episode_length_s=0.1",
    ]
    proc = arena(*args, cwd=tmp_path, env={"ARENA_TEST_FAIL_MARKER": str(marker)})
    assert proc.returncode == 1, proc.stderr
    folder = sweep_dir(tmp_path)
    failed, ok = results(folder)
    assert failed["status"] == "failed" and "planned failure at step 12" in failed["error"]
    assert failed["metrics"]["num_episodes"] == 4  # kept: the episodes finished before it
    assert (folder / "0" / "error.txt").read_text().count("Traceback") == 1
    assert ok["status"] == "completed" and ok["metrics"]["num_episodes"] == 6
    rows = collect(folder)
    assert [r["status"] for r in rows] == ["failed", "completed"]
    assert "job failed" in proc.stderr

    # resume: only the failed job runs again (the marker is gone, so it now completes).
    marker.unlink()
    before = (folder / "1" / "results.json").stat().st_mtime_ns
    again = arena(*args, "resume=true", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "is complete, skipped" in again.stderr
    assert (folder / "1" / "results.json").stat().st_mtime_ns == before
    first, second = results(folder)
    assert first["status"] == "completed" and first["metrics"]["num_episodes"] == 6
    assert second["status"] == "completed"


@pytest.mark.integration
def test_fail_fast_skips_the_rest(tmp_path: Path) -> None:
    marker = tmp_path / "fail"
    marker.touch()
    proc = arena(
        "-m",
        f"{FAILING},zero_action",
        "seed=1,2",
        "fail_fast=true",
        "num_envs=2",
        "length.n=6",
        "progress=false",
        "env.task.episode_length_s=0.1",
        cwd=tmp_path,
        env={"ARENA_TEST_FAIL_MARKER": str(marker)},
    )
    assert proc.returncode == 1
    statuses = [r["status"] for r in results(sweep_dir(tmp_path))]
    assert statuses[0] == "failed"
    assert statuses[1:] == ["skipped"] * 3


@pytest.mark.integration
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_flushes_the_current_job_and_the_summary(tmp_path: Path, sig, code) -> None:
    episodes = 40
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        [
            str(BIN / "arena-eval"),
            "-m",
            "seed=0,1,2",
            "policy.name=tests.helpers.SlowPolicy",
            "num_envs=2",
            # ~2 s a job (200 steps of 10 ms): the signal, 0.3 s into job 1, lands well inside
            # it (at 6 episodes a job took 0.36 s and on a quiet machine sometimes ended first).
            f"length.n={episodes}",
            "env.task.episode_length_s=0.2",
            "progress=false",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored, and so would the sweep: the test
        # signals it as a terminal would, so it gets the default disposition back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until job 0 is done and job 1 has started
        if list(tmp_path.glob("outputs/*/multiruns/*/0/results.json")) and list(
            tmp_path.glob("outputs/*/multiruns/*/1/.hydra")
        ):
            break
        time.sleep(0.05)
    time.sleep(0.3)  # let job 1 finish a few 10-step episodes
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    folder = sweep_dir(tmp_path)
    done, cut = results(folder)
    assert done["status"] == "completed" and done["metrics"]["num_episodes"] == episodes
    assert cut["status"] == "interrupted"
    assert cut["metrics"]["num_episodes"] < episodes
    assert not (folder / "2").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status_counts"] == {"completed": 1, "interrupted": 1}


def test_labels_show_what_varies() -> None:
    rows = [{"job": "0", "label": "a=1 b=2 c=3"}, {"job": "1", "label": "a=1 b=3 c=3"}]
    shorten_labels(rows)
    assert [r["label"] for r in rows] == ["b=2", "b=3"]


@pytest.mark.integration
@pytest.mark.parametrize("per_task", [1, 2])
def test_submitit_local_launcher_groups_jobs(tmp_path: Path, per_task: int) -> None:
    """hydra/launcher=local: one process per task; jobs_per_task jobs share its app."""
    proc = arena(
        "-m",
        "hydra/launcher=local",
        f"hydra.launcher.jobs_per_task={per_task}",
        "object=cracker_box,sugar_box",
        "policy=zero_action,scripted",
        "num_envs=2",
        "length.n=2",
        "progress=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = results(sweep_dir(tmp_path))
    assert [j["status"] for j in jobs] == ["completed"] * 4
    assert [j["metrics"]["success_rate"] for j in jobs] == [0.0, 1.0, 0.0, 1.0]
    assert len({j["app"]["pid"] for j in jobs}) == 4 // per_task
    assert sorted(j["app"]["jobs"] for j in jobs) == sorted(
        list(range(1, per_task + 1)) * (4 // per_task)
    )
