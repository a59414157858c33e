"""Variations' cost: env-steps/s with every variation on against none, in one process.

Both sides run the scripted expert on lift_object (franka_ik, cracker_box) for the same number
of steps at the same env count, so episodes end and reset as they do in an evaluation; the only
difference is ``variations=[...all eight...]`` (cameras off: the visual ones still write their
per-simulation model fields at every reset). Each figure is the median of interleaved repeats.
A second measure isolates the reset: the mean time of one env's reset (episode start) with and
without variations, over many resets.

    .venv/bin/python scripts/bench_variations.py [--num-envs 16] [--steps 600] [--repeats 5]

The last line is ``ratio=<with/without> <with> env-steps/s reset_ms=<without>/<with>``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from arena_eval.app import SimApp
from arena_eval.config import compose, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.job import make_job_policy
from arena_eval.rollout import rollout

ALL = (
    "variations=[object_pose,object_mass,friction,lighting,camera_pose,table_color,"
    "object_color,distractors]"
)
# Without distractors: the same compiled scene as no variations (distractors add bodies that
# the step then simulates; every other variation only writes model fields at reset).
NO_SCENE = (
    "variations=[object_pose,object_mass,friction,lighting,camera_pose,table_color,object_color]"
)
CASES = {"none": None, "all but distractors": NO_SCENE, "all": ALL}


def job_for(num_envs: int, varied: str | None):
    extra = [varied] if varied else []
    return validate(
        compose(
            [
                "env=lift_object",
                "embodiment=franka_ik",
                "policy=scripted",
                "progress=false",
                f"num_envs={num_envs}",
                *extra,
            ]
        )
    )


def bench_rollout(job, steps: int) -> tuple[float, int]:
    env = SimApp.get(job).make_env(job)
    try:
        policy = make_job_policy(job, env)
        out = rollout(env, policy, "steps", steps, EpisodeSource(job.seed, None))
        return out.env_steps / out.wall_s, len(out.records)
    finally:
        env.close()


def bench_reset(job, resets: int) -> float:
    """Milliseconds per env reset: ``_start`` of one env at a time, as episodes end."""
    env = SimApp.get(job).make_env(job)
    try:
        env.reset(EpisodeSource(job.seed, None))
        ids = np.arange(job.num_envs)
        start = time.perf_counter()
        for i in range(resets):
            env._start(ids[i % job.num_envs : i % job.num_envs + 1])
        return 1000 * (time.perf_counter() - start) / resets
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resets", type=int, default=400)
    args = parser.parse_args()
    jobs = {name: job_for(args.num_envs, v) for name, v in CASES.items()}
    for job in jobs.values():
        bench_rollout(job, 50)  # compile, caches, first-call costs
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    episodes = {}
    for _ in range(args.repeats):
        for name, job in jobs.items():
            rate, episodes[name] = bench_rollout(job, args.steps)
            rates[name].append(rate)
    reset = {name: bench_reset(job, args.resets) for name, job in jobs.items()}
    median = {name: statistics.median(r) for name, r in rates.items()}
    print(f"{args.num_envs} envs, {args.steps} steps, median of {args.repeats}")
    for name in jobs:
        print(
            f"  {name:<20} {median[name]:8.0f} env-steps/s"
            f"  ratio {median[name] / median['none']:.3f}"
            f"  ({episodes[name]} episodes a run)  reset {reset[name]:.3f} ms/env"
        )
    on, off = median["all"], median["none"]
    print(
        f"ratio={on / off:.3f} {on:.0f} env-steps/s reset_ms={reset['none']:.3f}/{reset['all']:.3f}"
    )


if __name__ == "__main__":
    main()
