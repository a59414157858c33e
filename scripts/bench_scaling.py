"""Scaling: 1 vs 2 torchrun ranks on the same total work, and throughput against num_envs.

Ranks: zero_action, franka_joint_pos, lift_object, 16 envs per rank, a fixed total of
vectorized steps split across ranks (CPU, gloo); env-steps/s from rank 0's results.json
(all ranks' env-steps over the slowest rank's rollout time). Two baselines for 1 rank: one
simulation thread (what each of 2 ranks gets on 2 cores) and all cores' threads.
num_envs: one process, all cores, 1..256 envs; writes docs/scaling_num_envs.png.
Medians of --repeats.

    .venv/bin/python scripts/bench_scaling.py [--repeats 3] [--steps 800]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = [
    "env=lift_object",
    "embodiment=franka_joint_pos",
    "policy=zero_action",
    "length=steps",
    "progress=false",
]


def run(command: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            command,
            cwd=tmp,
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        (path,) = Path(tmp).rglob("results.json")
        return json.loads(path.read_text())


def ranks(n: int, steps: int, nthread: int) -> float:
    cmd = [
        str(ROOT / "launchers" / "torchrun.sh"),
        str(n),
        *JOB,
        f"length.n={steps}",
        "num_envs=16",
        f"sim.nthread={nthread}",
    ]
    return run(cmd)["timing"]["env_steps_per_s"]


def single(num_envs: int, steps: int) -> float:
    cmd = [str(BIN / "arena-eval"), *JOB, f"length.n={steps}", f"num_envs={num_envs}"]
    return run(cmd)["timing"]["env_steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=800, help="total vectorized steps")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    one_thread = statistics.median(ranks(1, args.steps, 1) for _ in range(args.repeats))
    one_all = statistics.median(ranks(1, args.steps, 0) for _ in range(args.repeats))
    two = statistics.median(ranks(2, args.steps, 0) for _ in range(args.repeats))
    print(f"ranks: 16 envs per rank, {args.steps} vectorized steps in total, {cores} cores")
    print(f"  1 rank, 1 sim thread       : {one_thread:8,.0f} env-steps/s")
    print(f"  1 rank, {cores} sim threads      : {one_all:8,.0f} env-steps/s")
    print(f"  2 ranks, 1 sim thread each : {two:8,.0f} env-steps/s")
    print(
        f"  2 ranks / 1 rank (1 thread): {two / one_thread:.2f}x;"
        f" 2 ranks / 1 rank ({cores} threads): {two / one_all:.2f}x"
    )

    sizes = [1, 4, 16, 64, 256]
    rates = []
    for n in sizes:
        steps = max(20, 4000 // n)
        rates.append(statistics.median(single(n, steps) for _ in range(args.repeats)))
        print(f"num_envs={n:4d}: {rates[-1]:8,.0f} env-steps/s ({steps} steps)")
    plot(sizes, rates, ROOT / "docs" / "scaling_num_envs.png")
    print(f"ratio_2_ranks={two / one_thread:.2f} ratio_vs_threads={two / one_all:.2f}")


def plot(sizes: list[int], rates: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(sizes, rates, marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("num_envs (one process, 2 cores)")
    ax.set_ylabel("env-steps/s")
    ax.set_title("lift_object, franka_joint_pos, zero_action, 500/50 Hz")
    ax.grid(True, alpha=0.3)
    for x, y in zip(sizes, rates, strict=True):
        ax.annotate(
            f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8
        )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
