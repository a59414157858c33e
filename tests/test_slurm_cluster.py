"""submitit against a real single-node SLURM: results, arrays, failures and cancellation."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cloudpickle
import pytest
import submitit
from submitit.core.utils import FailedJobError

from tests.slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401  (the fixture)

# func_only: the 180 s bound is for each test's own work; the session fixture's cold start (apt
# install) is bounded by the fixture itself and must not eat into the first test's time.
pytestmark = [pytest.mark.slurm, pytest.mark.timeout(180, func_only=True)]

# Pickle the helpers below by value: by reference, the job would have to import this test module
# (and pytest with it), which only works when its working directory happens to be the repo root.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _describe_job(x: int) -> dict[str, object]:
    return {
        "doubled": 2 * x,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "host": socket.gethostname(),
    }


def _square(x: int) -> int:
    return x * x


def _fail(message: str) -> None:
    raise ValueError(message)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout_s:.0f}s")
        time.sleep(1)


# sacct states of a job that has not ended, or that accounting has not recorded yet.
_UNSETTLED_STATES = {"UNKNOWN", "PENDING", "RUNNING", "COMPLETING", "REQUEUED", "READY"}


def _state(job: submitit.Job) -> str:
    # job.state only re-reads sacct every few seconds; force a fresh read for the assertions.
    return job.get_info(mode="force").get("State") or "UNKNOWN"


def _final_state(job: submitit.Job, timeout_s: float = 60) -> str:
    # The result file appears before SLURM ends the job, and slurmdbd records the end a moment
    # later still: wait for sacct to settle instead of reading the state right after result().
    _wait_until(
        lambda: _state(job).split()[0] not in _UNSETTLED_STATES,
        timeout_s,
        f"job {job.job_id} reaching a final state",
    )
    return _state(job)


def _sacct_state(cluster: SlurmCluster, job_id: str) -> str:
    # -X: the allocation only, not its batch/step lines; first word drops "by <uid>".
    out = cluster.run("sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id).strip()
    return out.split()[0] if out else ""


@pytest.fixture
def executor(slurm_cluster: SlurmCluster, tmp_path: Path) -> submitit.AutoExecutor:  # noqa: F811
    # cluster="slurm": fail loudly instead of quietly running jobs as local processes.
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    # timeout_min >= 5: submitit asks for USR2 90 s before the limit, which a shorter limit
    # would deliver straight away.
    executor.update_parameters(
        timeout_min=5,
        slurm_partition="debug",
        cpus_per_task=1,
        tasks_per_node=1,
        nodes=1,
        name="arena-slurm-test",
    )
    return executor


def test_submit_returns_result(executor: submitit.AutoExecutor) -> None:
    job = executor.submit(_describe_job, 21)
    result = job.result()
    assert result["doubled"] == 42
    # It really ran as that SLURM job, not as a local subprocess.
    assert result["slurm_job_id"] == job.job_id
    assert _final_state(job) == "COMPLETED"


def test_job_array_all_succeed(executor: submitit.AutoExecutor) -> None:
    jobs = executor.map_array(_square, [1, 2, 3])
    assert len(jobs) == 3
    assert len({job.job_id.split("_")[0] for job in jobs}) == 1, "expected one array job"
    assert [job.result() for job in jobs] == [1, 4, 9]
    assert [_final_state(job) for job in jobs] == ["COMPLETED"] * 3


def test_raising_job_reports_exception(executor: submitit.AutoExecutor) -> None:
    job = executor.submit(_fail, "boom from the SLURM job")
    error = job.exception()
    assert isinstance(error, FailedJobError)
    assert "ValueError" in str(error)
    assert "boom from the SLURM job" in str(error)
    with pytest.raises(FailedJobError, match="boom from the SLURM job"):
        job.result()
    assert _final_state(job) == "FAILED"


def test_cancelled_job_is_seen_cancelled(
    executor: submitit.AutoExecutor,
    slurm_cluster: SlurmCluster,  # noqa: F811
) -> None:
    job = executor.submit(_sleep, 600)
    _wait_until(lambda: _state(job) == "RUNNING", 90, f"job {job.job_id} reaching RUNNING")

    job.cancel(check=True)

    # sacct says "CANCELLED by 0"; submitit passes that on as it is.
    _wait_until(
        lambda: _state(job).startswith("CANCELLED"), 60, f"submitit seeing {job.job_id} CANCELLED"
    )
    assert job.done(force_check=True)
    assert _sacct_state(slurm_cluster, job.job_id) == "CANCELLED"
    # The job's processes are really gone: it leaves the queue once KillWait has passed.
    _wait_until(
        lambda: not slurm_cluster.run("squeue", "-h", "-j", job.job_id).strip(),
        60,
        f"job {job.job_id} leaving the queue",
    )
