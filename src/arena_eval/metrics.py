"""Metrics computed in memory from episode records; names match the reference's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from arena_eval.envs.base import EpisodeRecord


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate; (0, 1) when there are no episodes."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exact ends at 0 % and 100 %, where rounding would leave the interval a hair short.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _rates(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    n = len(records)
    out: dict[str, Any] = {"num_episodes": n}
    if n == 0:
        return out
    successes = sum(r.success for r in records)
    low, high = wilson_interval(successes, n)
    lengths = np.array([r.length for r in records], dtype=float)
    out.update(
        success_rate=successes / n,
        success_ci95=[low, high],
        object_moved_rate=sum(r.object_moved for r in records) / n,
        episode_length_mean=float(lengths.mean()),
        episode_length_p50=float(np.percentile(lengths, 50)),
        episode_length_p90=float(np.percentile(lengths, 90)),
        failure_rate=sum(r.outcome == "failure" for r in records) / n,
        timeout_rate=sum(r.outcome == "timeout" for r in records) / n,
    )
    doors = [r.door_moved for r in records if r.door_moved is not None]
    if doors:
        out["door_moved_rate"] = sum(doors) / len(doors)
        # The reference's name for the same quantity, kept so its readers find it.
        out["revolute_joint_moved_rate"] = out["door_moved_rate"]
    subtasks = sorted({k for r in records for k in r.subtasks})
    if subtasks:
        out["subtask_success_rate"] = {
            k: sum(r.subtasks.get(k, False) for r in records) / n for k in subtasks
        }
    return out


def compute_metrics(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Overall metrics plus a per-object breakdown when more than one object was used."""
    records = sorted(records, key=lambda r: r.episode_index)
    metrics = _rates(records)
    objects = sorted({r.object for r in records})
    if len(objects) > 1:
        metrics["per_object"] = {o: _rates([r for r in records if r.object == o]) for o in objects}
    return metrics
