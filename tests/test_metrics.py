"""Metrics from episode records: rates, intervals, breakdowns, and determinism of a whole job."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from arena_eval.envs.base import EpisodeRecord
from arena_eval.job import run_job
from arena_eval.metrics import compute_metrics, wilson_interval


def record(i: int, success: bool, obj: str = "a", door: bool | None = None) -> EpisodeRecord:
    return EpisodeRecord(
        i,
        0,
        i,
        obj,
        success,
        10 + i,
        "success" if success else "timeout",
        object_moved=success,
        door_moved=door,
    )


def test_wilson_known_values() -> None:
    low, high = wilson_interval(8, 10)
    assert math.isclose(low, 0.4902, abs_tol=1e-4) and math.isclose(high, 0.9433, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(20, 20)[1] == 1.0


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_contains_the_rate(successes: int, n: int) -> None:
    successes = min(successes, n)
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_rates_and_per_object_breakdown() -> None:
    records = [record(0, True, "a", True), record(1, False, "a", False), record(2, True, "b", True)]
    m = compute_metrics(records)
    assert m["num_episodes"] == 3
    assert math.isclose(m["success_rate"], 2 / 3)
    assert math.isclose(m["door_moved_rate"], 2 / 3)
    assert m["per_object"]["a"]["num_episodes"] == 2
    assert m["per_object"]["b"]["success_rate"] == 1.0


def test_no_episodes_gives_no_rates() -> None:
    assert compute_metrics([]) == {"num_episodes": 0}


def test_same_config_and_seed_give_identical_results(make_cfg, tmp_path) -> None:
    cfg = make_cfg("policy=random", "num_envs=3", "length.n=4", "env.task.episode_length_s=1.0")
    first = run_job(cfg, tmp_path / "a", show=False)
    second = run_job(cfg, tmp_path / "b", show=False)
    assert first.metrics == second.metrics
    assert (tmp_path / "a" / "episodes.csv").read_text() == (
        tmp_path / "b" / "episodes.csv"
    ).read_text()
