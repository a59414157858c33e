"""Trace one scripted episode step by step, to compare the two backends joint by joint.

Run it once in each venv with the same overrides, then compare the traces (either venv)::

    .venv/bin/python scripts/trace_episode.py record mj.npz sim=mujoco env.physics_hz=100 \\
        env=open_microwave embodiment=g1_ik
    .venv-isaac/bin/python scripts/trace_episode.py record il.npz sim=isaaclab \\
        env=open_microwave embodiment=g1_ik
    .venv/bin/python scripts/trace_episode.py compare mj.npz il.npz --steps 30

A trace holds, per control step, the full ``qpos`` in the compiled MuJoCo model's layout (the
robot's joints, the object's free joint, the fixtures' hinges), the action and the door's
openness. ``compare`` prints, per step, the coordinates that differ most.
"""

from __future__ import annotations

import argparse

import numpy as np


def record(path: str, steps: int, overrides: list[str]) -> None:
    from arena_eval.app import SimApp
    from arena_eval.config import compose, validate
    from arena_eval.envs.base import EpisodeSource
    from arena_eval.job import make_job_policy
    from arena_eval.policies.base import as_actions

    job = validate(compose(["progress=false", "num_envs=1", "policy=scripted", *overrides]))
    env = SimApp.get(job).make_env(job)
    policy = make_job_policy(job, env)
    obs = env.reset(EpisodeSource(job.seed, 1))
    policy.reset(None)
    if job.backend == "mujoco":
        model = env.groups[0].sims.model

        def qpos() -> np.ndarray:
            return np.array(env.groups[0].sims.qpos[0])
    else:  # the task's view (object, fixtures) with the robot view's joints written in
        model = env.groups[0].view.model

        def qpos() -> np.ndarray:
            q, robot = env.groups[0].view.qpos[0].copy(), env.robot.view
            q[robot.qadr] = robot.qpos[0, robot.qadr]
            return q

    rows, actions, door = [], [], []
    for _ in range(steps):
        rows.append(qpos())
        action = as_actions(policy.get_action(obs), env.spec)
        actions.append(action[0])
        result = env.step(action)
        obs = result.obs
        door.append(float(obs["door_openness"][0, 0]) if "door_openness" in obs else 0.0)
        if result.episodes:
            break
    names = [model.joint(j).name for j in range(model.njnt)]
    np.savez(
        path, qpos=np.array(rows), action=np.array(actions), door=np.array(door),
        names=np.array(names), qadr=np.array(model.jnt_qposadr),
    )  # fmt: skip
    print(f"{len(rows)} steps, door openness at the end {door[-1]:.3f}")
    env.close()


def compare(a_path: str, b_path: str, steps: int, worst: int = 4) -> None:
    a, b = np.load(a_path), np.load(b_path)
    names, qadr = a["names"], a["qadr"]
    if list(names) != list(b["names"]):
        raise SystemExit("the traces have different joint layouts")
    for k in range(min(len(a["qpos"]), len(b["qpos"]), steps)):
        qa, qb = a["qpos"][k], b["qpos"][k]
        cols = []
        for i in np.argsort(-np.abs(qa - qb))[:worst]:
            j = int(np.searchsorted(qadr, i, side="right") - 1)
            cols.append(f"{names[j]}[{i - qadr[j]}] {qa[i]:+.3f}/{qb[i]:+.3f}")
        da = np.abs(a["action"][k] - b["action"][k]).max()
        print(f"{k:3d} door {a['door'][k]:.3f}/{b['door'][k]:.3f} action diff {da:.4f}  ", *cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("path")
    rec.add_argument("overrides", nargs="*")
    rec.add_argument("--steps", type=int, default=400)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    cmp_.add_argument("--steps", type=int, default=40)
    args, rest = parser.parse_known_args()  # overrides may come after --steps
    if args.command == "record":
        record(args.path, args.steps, [*args.overrides, *rest])
    else:
        compare(args.a, args.b, args.steps)


if __name__ == "__main__":
    main()
