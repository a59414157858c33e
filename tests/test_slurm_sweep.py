"""Sweeps on a real single-node SLURM through hydra/launcher=slurm (make test-slurm)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(400)]
ROOT = Path(__file__).parents[1]
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=5",
    "progress=false",
]


def sweep(cluster: SlurmCluster, cwd: Path, *overrides: str) -> subprocess.Popen:
    env = {**cluster.env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "arena-eval"), "-m", *LAUNCHER, *overrides],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def job_results(cwd: Path) -> list[dict]:
    (folder,) = (cwd / "outputs" / "default" / "multiruns").iterdir()
    paths = sorted(folder.glob("*/results.json"), key=lambda p: int(p.parent.name))
    return [json.loads(p.read_text()) for p in paths]


def running_task(
    cluster: SlurmCluster, deadline_s: float = 120, array_index: int | None = None
) -> str:
    """A RUNNING task's id; with ``array_index``, that task of the sweep's job array (a task
    whose job has written its results can still be RUNNING while its process exits)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        out = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").split()
        if array_index is not None:
            out = [task for task in out if task.endswith(f"_{array_index}")]
        if out:
            return out[0]
        time.sleep(0.5)
    raise AssertionError("no SLURM task started running")


@pytest.mark.parametrize("per_task", [1, 2])
def test_four_job_sweep_with_summary(
    slurm_cluster: SlurmCluster,  # noqa: F811
    tmp_path: Path,
    per_task: int,
) -> None:
    proc = sweep(
        slurm_cluster,
        tmp_path,
        "object=cracker_box,sugar_box",
        "policy=zero_action,scripted",
        "num_envs=2",
        "length.n=2",
        f"hydra.launcher.jobs_per_task={per_task}",
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    jobs = job_results(tmp_path)
    assert [j["status"] for j in jobs] == ["completed"] * 4
    assert [j["metrics"]["success_rate"] for j in jobs] == [0.0, 1.0, 0.0, 1.0]
    assert len({j["app"]["pid"] for j in jobs}) == 4 // per_task  # tasks; grouped jobs share one
    (folder,) = (tmp_path / "outputs" / "default" / "multiruns").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status_counts"] == {"completed": 4}


def test_cancelled_job_is_reported(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:  # noqa: F811
    """Job 0 is short, job 1 long; job 1 is cancelled mid-run once job 0 has finished."""
    proc = sweep(
        slurm_cluster,
        tmp_path,
        "length.n=20,4000",
        "seed=0",
        "policy.name=tests.helpers.SlowPolicy",
        "+policy.sleep_s=0.02",
        "num_envs=2",
        "length=steps",
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not list(
        tmp_path.glob("outputs/default/multiruns/*/0/results.json")
    ):
        time.sleep(0.5)
    slurm_cluster.run("scancel", running_task(slurm_cluster, array_index=1))  # job 1
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out
    (folder,) = (tmp_path / "outputs" / "default" / "multiruns").iterdir()
    rows = json.loads((folder / "summary.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["completed", "interrupted"], rows
    cut = json.loads((folder / "1" / "results.json").read_text())
    assert 0 < cut["timing"]["steps"] < 4000  # its finished steps were saved, not lost


def test_preempted_job_is_requeued_and_completes(
    slurm_cluster: SlurmCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    """USR2 is submitit's preemption/timeout signal: its checkpoint hook requeues the job."""
    proc = sweep(
        slurm_cluster,
        tmp_path,
        "seed=0",
        "policy.name=tests.helpers.SlowPolicy",
        "+policy.sleep_s=0.02",
        "num_envs=2",
        "length=steps",
        "length.n=300",
    )
    task = running_task(slurm_cluster)
    time.sleep(3)
    slurm_cluster.run("scancel", "--signal=USR2", task)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    (job,) = job_results(tmp_path)
    assert job["status"] == "completed" and job["timing"]["steps"] == 300
    accounting = slurm_cluster.run(
        "sacct", "-n", "-X", "-j", task.split("_")[0], "-o", "JobID,State", "-D"
    )
    assert "REQUEUED" in accounting or "PREEMPTED" in accounting, accounting
