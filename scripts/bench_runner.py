"""Runner throughput: a full rollout against a raw mujoco.batch loop on the same model.

Both sides step the same compiled model (zero_action, franka_joint_pos, lift_object) at the
task's real rates, in this process; each figure is the median of 5 interleaved repeats, and the
ratio is the median of the repeats' own ratios (each rollout against the raw loop run just
before it, so drift in this machine's speed, often larger than the gap measured, cancels out).
One line per env count (64, then 16); the last line is ``ratio=<rollout/raw> <rollout
env-steps/s> env-steps/s`` for the last count (16).

    .venv/bin/python scripts/bench_runner.py [--num-envs 64,16] [--steps 600] [--repeats 5]

``--policy scripted`` runs the expert instead (its planning and, on humanoids, the bimanual IK
are then part of the rollout's cost); the raw loop stays the bare stepping of the same model:

    .venv/bin/python scripts/bench_runner.py --env fridge --embodiment gr1_ik --policy scripted

``--cameras`` measures a rollout with camera observations instead (front + wrist rendered on
the CPU, default 4 envs, 224x224, fast quality) against the same rollout without cameras; its
last line is ``cameras=<quality> <env-steps/s> env-steps/s <images/s> images/s``.

    .venv/bin/python scripts/bench_runner.py --cameras [--num-envs 4] [--steps 100] [--size 224]
"""

from __future__ import annotations

import argparse
import statistics
import time

import mujoco
import numpy as np
from mujoco import batch as mjbatch

from arena_eval.app import SimApp
from arena_eval.config import compose, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.envs.mujoco.backend import build_spec
from arena_eval.job import make_job_policy
from arena_eval.policies.base import make_policy
from arena_eval.rollout import rollout


def job_for(
    num_envs: int,
    env: str = "lift_object",
    embodiment: str = "franka_joint_pos",
    extra: tuple[str, ...] = (),
    policy: str = "zero_action",
):
    return validate(
        compose(
            [
                f"env={env}",
                f"embodiment={embodiment}",
                f"policy={policy}",
                f"num_envs={num_envs}",
                *extra,
            ]
        )
    )


def bench_rollout(job, steps: int) -> float:
    env = SimApp.get(job).make_env(job)
    try:
        policy = make_job_policy(job, env)
        out = rollout(env, policy, "steps", steps, EpisodeSource(job.seed, None))
        return out.env_steps / out.wall_s
    finally:
        env.close()


def bench_raw(job, steps: int) -> float:
    """The floor: the same model, decimation, start states, controls and episodes, with
    nothing around.

    A fresh Batch (no bound outputs) starts from the env's reset state with the controls that
    zero_action produces, and restarts from it wherever the rollout's episodes end (the task's
    step limit), so both sides simulate the same physics: a settled scene costs less to step
    than one just reset (the solver's warm start converges in 0 iterations after ~300 steps of
    lift against ~1 while the arm moves), and a floor that never restarts would count that
    difference against the runner. The restart itself (reset, state writes, forward) is the
    minimum any loop running episodes pays, so it is timed too.
    """
    env = SimApp.get(job).make_env(job)
    env.reset(EpisodeSource(job.seed, None))
    group = env.groups[0]
    group.robot.apply(np.zeros((job.num_envs, env.spec.action_dim)), slice(None))
    model, decimation = group.sims.model, env.decimation
    start_qpos, start_qvel = group.sims.qpos.copy(), group.sims.qvel.copy()
    start_ctrl, limit = group.sims.ctrl.copy(), env.spec.max_episode_steps
    env.close()
    batch = mjbatch.Batch(model, job.num_envs, nthread=job.nthread, persistent=True)
    qpos, qvel, ctrl = batch.bind("qpos"), batch.bind("qvel"), batch.bind("ctrl")

    def restart() -> None:
        batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        qpos[:], qvel[:], ctrl[:] = start_qpos, start_qvel, start_ctrl
        batch.forward()

    restart()
    stage = mujoco.mjtStage.mjSTAGE_VEL
    start = time.perf_counter()
    for i in range(1, steps + 1):
        batch.step(None, nstep=decimation, stage=stage)
        if i % limit == 0:
            restart()
    return steps * job.num_envs / (time.perf_counter() - start)


def bench_cameras(num_envs: int, steps: int, repeats: int, size: int, quality: str) -> None:
    """Env-steps/s and images/s of a rollout with cameras on, next to the same one without."""
    cams = (
        "enable_cameras=true",
        f"cameras.width={size}",
        f"cameras.height={size}",
        f"cameras.quality={quality}",
    )
    plain_job, cam_job = job_for(num_envs), job_for(num_envs, extra=cams)

    def once(job) -> tuple[float, float]:
        env = SimApp.get(job).make_env(job)
        try:
            policy = make_policy(job.policy, env.spec)
            out = rollout(env, policy, "steps", steps, EpisodeSource(job.seed, None))
            return out.env_steps / out.wall_s, env.images_rendered / out.wall_s
        finally:
            env.close()

    once(cam_job)  # warm up: compile, GL context, first-touch allocations
    plain, with_cams = [], []
    for _ in range(repeats):
        plain.append(once(plain_job)[0])
        with_cams.append(once(cam_job))
    keys = [k for k in build_spec(cam_job).observations if k.startswith("image_")]
    steps_s = statistics.median(r[0] for r in with_cams)
    images_s = statistics.median(r[1] for r in with_cams)
    print(f"lift_object, franka_joint_pos, zero_action, {num_envs} envs, {steps} steps")
    print(f"cameras {', '.join(keys)}: {size}x{size}, quality {quality}")
    print(f"{'rollout, no cameras':22s}: {statistics.median(plain):10,.0f} env-steps/s")
    print(f"{'rollout, cameras':22s}: {steps_s:10,.0f} env-steps/s  {images_s:8,.1f} images/s")
    print(f"cameras={quality} {steps_s:.1f} env-steps/s {images_s:.1f} images/s")


def measure(job, steps: int, repeats: int) -> tuple[float, float, list[float], list[float]]:
    """Medians of ``repeats`` raw loops and rollouts, interleaved so drift in machine load hits
    both alike; returns (raw median, rollout median, raw runs, rollout runs)."""
    bench_rollout(job, 50)  # warm up: compile, caches, first-touch allocations
    bench_raw(job, 50)
    raw, ours = [], []
    for _ in range(repeats):
        raw.append(bench_raw(job, steps))
        ours.append(bench_rollout(job, steps))
    return statistics.median(raw), statistics.median(ours), raw, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--num-envs",
        default=None,
        help="env counts, the last one reported last (64,16; 4 with --cameras)",
    )
    parser.add_argument("--steps", type=int, default=None, help="600 (100 with --cameras)")
    parser.add_argument("--repeats", type=int, default=None, help="5 (3 with --cameras)")
    parser.add_argument("--cameras", action="store_true", help="measure with cameras on")
    parser.add_argument("--size", type=int, default=224, help="--cameras: image width/height")
    parser.add_argument("--quality", default="fast", choices=("fast", "high"))
    parser.add_argument("--env", default="lift_object", help="e.g. fridge")
    parser.add_argument("--embodiment", default="franka_joint_pos", help="e.g. gr1_joint")
    parser.add_argument("--policy", default="zero_action", help="e.g. scripted (the expert)")
    parser.add_argument(
        "--nthread",
        type=int,
        default=None,
        help="sim.nthread on both sides (default: the config's)",
    )
    args = parser.parse_args()
    if args.cameras:
        bench_cameras(
            int(args.num_envs or 4), args.steps or 100, args.repeats or 3, args.size, args.quality
        )
        return
    counts = [int(n) for n in str(args.num_envs or "64,16").split(",")]
    args.steps = args.steps or 600
    args.repeats = args.repeats or 5
    print(
        f"task {args.env}, {args.embodiment}, {args.policy}, {args.steps} steps, "
        f"medians of {args.repeats}"
    )
    last = None
    for n in counts:
        extra = (f"sim.nthread={args.nthread}",) if args.nthread is not None else ()
        job = job_for(n, args.env, args.embodiment, extra, policy=args.policy)
        raw_med, ours_med, raw, ours = measure(job, args.steps, args.repeats)
        decimation = round(job.physics_hz / job.control_hz)
        ratio = statistics.median(o / r for o, r in zip(ours, raw, strict=True))
        print(
            f"envs={n:<4d} raw mujoco.batch {raw_med:9,.0f} env-steps/s  rollout {ours_med:9,.0f} "
            f"env-steps/s  ratio {ratio:.3f} (of medians {ours_med / raw_med:.3f})  (decimation "
            f"{decimation}; runs raw {[round(r) for r in raw]}, rollout {[round(r) for r in ours]})"
        )
        last = (ratio, ours_med)
    print(f"ratio={last[0]:.3f} {last[1]:.0f} env-steps/s")


if __name__ == "__main__":
    main()
