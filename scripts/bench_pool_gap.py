"""The cost of a gap between Batch calls: MuJoCo's thread pool waking up.

A raw ``mujoco.batch`` loop on the runner benchmark's model (lift_object, franka_joint_pos,
16 envs) stepped back to back, and with a 90 us busy gap after each call (about what the
runner's own Python costs per step). The gap's own time is removed, so the difference is what
the next call pays for the pause. Medians of 9, interleaved.

    .venv/bin/python scripts/bench_pool_gap.py
"""

import statistics
import time

import mujoco
from mujoco import batch as mjbatch

from arena_eval.app import SimApp
from arena_eval.config import compose, validate
from arena_eval.envs.base import EpisodeSource

job = validate(compose(["env=lift_object", "embodiment=franka_joint_pos", "num_envs=16"]))
env = SimApp.get(job).make_env(job)
env.reset(EpisodeSource(0, None))
model = env.groups[0].sims.model


def run(gap_us, nthread, n=600):
    b = mjbatch.Batch(model, 16, nthread=nthread, persistent=True)
    b.step(None, nstep=10)
    t = time.perf_counter()
    for _ in range(n):
        b.step(None, nstep=10, stage=mujoco.mjtStage.mjSTAGE_VEL)
        if gap_us:
            end = time.perf_counter() + gap_us * 1e-6
            while time.perf_counter() < end:
                pass
    wall = time.perf_counter() - t
    return (wall - n * gap_us * 1e-6) / n * 1e3  # ms of stepping per call, gap removed


for nt in (2, 1):
    runs = {0: [], 90: []}
    for _ in range(9):  # interleaved, so drift in machine load hits both alike
        for g in runs:
            runs[g].append(run(g, nt))
    res = {g: statistics.median(r) for g, r in runs.items()}
    print(
        f"nthread={nt}: step {res[0]:.3f} ms back-to-back, {res[90]:.3f} ms after a 90 us "
        f"gap ({res[90] - res[0]:+.3f})"
    )
