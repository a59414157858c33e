"""The evaluation loop: steps or episodes, per-env resets, latency and throughput accounting."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from arena_eval.envs.base import EpisodeRecord, EpisodeSource
from arena_eval.policies.base import Policy, as_actions

Progress = Callable[[int, int, list[EpisodeRecord]], None]  # (steps, episodes, new records)


@dataclass
class RolloutOutput:
    records: list[EpisodeRecord] = field(default_factory=list)
    steps: int = 0  # vectorized env.step calls
    env_steps: int = 0  # per-env steps actually simulated
    wall_s: float = 0.0
    policy_s: list[float] = field(default_factory=list)


def _no_grad() -> contextlib.AbstractContextManager:
    # Only a policy that uses torch has imported it; then its steps run without autograd.
    torch = sys.modules.get("torch")
    return torch.inference_mode() if torch is not None else contextlib.nullcontext()


def rollout(
    env,
    policy: Policy,
    kind: str,
    n: int,
    episodes: EpisodeSource,
    progress: Progress | None = None,
    out: RolloutOutput | None = None,
) -> RolloutOutput:
    """Run ``n`` vectorized steps (kind="steps") or exactly ``n`` episodes (kind="episodes").

    In episode mode the source hands out exactly ``n`` episode indices, so envs whose next
    episode would not count are retired instead of stepped, and no episode is counted twice.
    ``out`` is filled in place: if anything raises (a signal, a lost policy server), the
    caller still holds every episode that finished before it.
    """
    out = out if out is not None else RolloutOutput()
    # ``out`` may already hold an earlier build's part of the job (num_rebuilds): add to it.
    stop_at, wall_before = out.steps + n, out.wall_s
    start = time.perf_counter()
    with _no_grad():
        obs = env.reset(episodes)
        policy.reset(None)
        try:
            while True:
                t0 = time.perf_counter()
                actions = as_actions(policy.get_action(obs), env.spec)
                out.policy_s.append(time.perf_counter() - t0)
                result = env.step(actions)
                obs = result.obs
                out.steps += 1
                out.env_steps += result.stepped
                if result.reset_env_ids.size:
                    policy.reset(result.reset_env_ids)
                out.records.extend(result.episodes)
                if progress is not None:
                    progress(out.steps, len(out.records), result.episodes)
                if kind == "steps" and out.steps >= stop_at:
                    break
                # Envs only retire as their episodes end: count them only then.
                if (result.episodes or not result.stepped) and not np.count_nonzero(result.active):
                    break
        finally:
            out.wall_s = wall_before + time.perf_counter() - start
    return out


def latency_ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ms = np.asarray(samples) * 1e3
    return {
        "mean": float(ms.mean()),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
    }
