"""torchrun ranks on CPU (gloo): the work is split, the metrics are reduced into one result."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from arena_eval.distributed import DistInfo

ROOT = Path(__file__).parents[1]


def torchrun(nproc: int, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [str(ROOT / "launchers" / "torchrun.sh"), str(nproc), "progress=false", *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def only_results(cwd: Path) -> dict:
    found = list(cwd.rglob("results.json"))
    assert len(found) == 1, found  # only rank 0 writes, and only one job folder exists
    return json.loads(found[0].read_text())


@pytest.mark.integration
def test_one_and_two_ranks_give_identical_metrics(tmp_path: Path) -> None:
    job = ["env=lift_object", "policy=scripted", "length=episodes", "length.n=12", "num_envs=3"]
    single, double = tmp_path / "w1", tmp_path / "w2"
    single.mkdir(), double.mkdir()
    one = torchrun(1, *job, cwd=single)
    two = torchrun(2, *job, cwd=double)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    a, b = only_results(single), only_results(double)
    assert a["metrics"] == b["metrics"]
    assert b["metrics"]["num_episodes"] == 12
    assert b["distributed"]["world_size"] == 2
    assert [r["episodes"] for r in b["distributed"]["ranks"]] == [6, 6]
    assert all(r["env_steps_per_s"] > 0 for r in b["distributed"]["ranks"])
    episodes_a = (single.rglob("episodes.csv").__next__()).read_text().splitlines()
    indices = sorted(int(line.split(",")[0]) for line in episodes_a[1:])
    assert indices == list(range(12))


@pytest.mark.integration
def test_a_failing_rank_fails_the_job(tmp_path: Path) -> None:
    proc = torchrun(
        2, "policy.name=tests.helpers.RankFailingPolicy", "length.n=20", "num_envs=2", cwd=tmp_path
    )
    assert proc.returncode != 0
    results = only_results(tmp_path)
    assert results["status"] == "failed"
    assert "rank 1: RuntimeError: rank 1 broke on purpose" in results["error"]
    assert "rank 1 broke on purpose" in proc.stderr


@pytest.mark.parametrize(("world", "n"), [(1, 10), (2, 10), (3, 10), (4, 3)])
def test_work_is_split_without_loss_or_overlap(world: int, n: int) -> None:
    ranks = [DistInfo(rank=r, world_size=world) for r in range(world)]
    assert sum(info.share(n) for info in ranks) == n
    indices = []
    for info in ranks:
        source = info.episode_source(seed=0, kind="episodes", n=n)
        while (nxt := source.next()) is not None:
            indices.append(nxt[0])
    assert sorted(indices) == list(range(n))
