"""MuJoCo against Isaac Lab (Newton, CPU) on the same task, side by side in one run.

    .venv/bin/python scripts/bench_backends.py [--envs 16 64 256] [--steps 60] [--repeats 3]

lift_object with franka_joint_pos and zero actions (the home pose held: physics and the env
loop, no policy cost). Each backend runs in its own venv (MuJoCo 4 in .venv, Isaac Lab in
.venv-isaac) as a worker subprocess; figures are medians of ``--repeats`` timed blocks after a
warm-up block. Also measured: time to the first step with a cold Warp kernel cache (an empty
WARP_CACHE_PATH) and a warm one, and the per-job overhead of a 5-job multirun (one process,
one app) and RSS over 20 sequential jobs of two scene kinds. Writes a JSON report and prints
a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = {"mujoco": ROOT / ".venv", "isaaclab": ROOT / ".venv-isaac"}
TASK = ["env=lift_object", "embodiment=franka_joint_pos", "policy=zero_action"]


def worker(sim: str, envs: list[int], steps: int, repeats: int) -> dict:
    """Runs inside a backend's venv: env-steps/s at each env count, and setup times."""
    import numpy as np

    from arena_eval.app import SimApp
    from arena_eval.config import compose, validate
    from arena_eval.envs.base import EpisodeSource

    out = {"sim": sim, "rates": {}, "setup_s": {}}
    for n in envs:
        job = validate(compose([f"sim={sim}", *TASK, f"num_envs={n}", "progress=false"]))
        start = time.perf_counter()
        env = SimApp.get(job).make_env(job)
        built = time.perf_counter() - start
        home = np.zeros((n, env.spec.action_dim))
        home[:] = [*_home(), 1.0]
        env.reset(EpisodeSource(0, None))
        t0 = time.perf_counter()
        env.step(home)
        first = time.perf_counter() - t0
        for _ in range(steps // 2):  # warm-up
            env.step(home)
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(steps):
                env.step(home)
            rates.append(n * steps / (time.perf_counter() - t0))
        env.close()
        out["rates"][str(n)] = statistics.median(rates)
        out["setup_s"][str(n)] = {"build_s": built, "first_step_s": first}
    out["app"] = SimApp.current().stats if SimApp.current() else {}
    return out


def _home() -> list[float]:
    from arena_eval.envs.mujoco.embodiments.franka import HOME

    return [float(q) for q in HOME]


def run_worker(sim: str, envs, steps, repeats, extra_env: dict | None = None) -> dict:
    python = VENVS[sim] / "bin" / "python"
    args = [str(python), __file__, "--worker", sim, "--envs", *map(str, envs)]
    args += ["--steps", str(steps), "--repeats", str(repeats)]
    start = time.perf_counter()
    proc = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **(extra_env or {})}, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{sim} worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def multirun_overhead(sim: str, jobs: int = 5) -> dict:
    """Per-job overhead in a multirun: (wall - rollouts) / jobs, one process, one app."""
    with tempfile.TemporaryDirectory() as tmp:
        seeds = ",".join(map(str, range(jobs)))
        args = [str(VENVS[sim] / "bin" / "arena-eval"), "-m", f"sim={sim}", *TASK]
        args += [f"seed={seeds}", "num_envs=16", "length=steps", "length.n=20"]
        args += ["progress=false", "name=bench"]
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{sim} multirun failed:\n{proc.stderr[-3000:]}")
        results = [
            json.loads(p.read_text())
            for p in sorted(Path(tmp).glob("outputs/bench/multiruns/*/*/results.json"))
        ]
    setups = [r["timing"]["setup_s"] for r in results]
    return {
        "jobs": len(results),
        "wall_s": wall,
        "first_job_setup_s": setups[0],
        "later_job_setup_s_median": statistics.median(setups[1:]),
        "rss_mb": [r["app"]["rss_mb"] for r in results],
    }


def rss_over_jobs(sim: str, jobs: int = 20) -> dict:
    """RSS after each of ``jobs`` sequential jobs in one process, alternating two scene kinds
    (lift_object, open_microwave); growth is measured from the first job of each kind."""
    with tempfile.TemporaryDirectory() as tmp:
        seeds = ",".join(map(str, range(jobs // 2)))
        args = [str(VENVS[sim] / "bin" / "arena-eval"), "-m", f"sim={sim}"]
        args += ["env=lift_object,open_microwave", "embodiment=franka_joint_pos"]
        args += ["policy=zero_action", f"seed={seeds}", "num_envs=16", "length=steps"]
        args += ["length.n=10", "progress=false", "name=rss"]
        proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{sim} rss multirun failed:\n{proc.stderr[-3000:]}")
        results = [
            json.loads(p.read_text())
            for p in Path(tmp).glob("outputs/rss/multiruns/*/*/results.json")
        ]
    results.sort(key=lambda r: r["app"]["jobs"])
    kinds: dict[str, list[float]] = {}
    for r in results:
        kinds.setdefault(r["job"]["env"], []).append(r["app"]["rss_mb"])
    return {
        "jobs": len(results),
        "rss_mb": {env: rss for env, rss in kinds.items()},
        # Growth from the end of the first job of each scene kind to the worst later one.
        "max_growth_pct": max(100 * (max(rss[1:]) - rss[0]) / rss[0] for rss in kinds.values()),
        "last_vs_first_pct": {env: 100 * (rss[-1] - rss[0]) / rss[0] for env, rss in kinds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(VENVS))
    parser.add_argument("--envs", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold-cache run")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_backends.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.envs, args.steps, args.repeats)))
        return
    missing = [s for s, v in VENVS.items() if not (v / "bin" / "python").exists()]
    if missing:
        sys.exit(f"missing venvs for {missing}: run make setup and make setup-isaac")
    report = {"envs": args.envs, "steps": args.steps, "repeats": args.repeats}
    report["mujoco"] = run_worker("mujoco", args.envs, args.steps, args.repeats)
    report["isaaclab"] = run_worker("isaaclab", args.envs, args.steps, args.repeats)
    first = [args.envs[0]]
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as cold:
            report["isaaclab_cold"] = run_worker("isaaclab", first, 4, 1, {"WARP_CACHE_PATH": cold})
    report["isaaclab_warm"] = run_worker("isaaclab", first, 4, 1)
    report["multirun"] = {sim: multirun_overhead(sim) for sim in VENVS}
    report["rss_20_jobs"] = {sim: rss_over_jobs(sim) for sim in VENVS}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))

    print(f"lift_object · franka_joint_pos · zero_action, median of {args.repeats}")
    print(f"{'envs':>6} {'mujoco env-steps/s':>20} {'isaaclab env-steps/s':>22} {'ratio':>7}")
    for n in args.envs:
        m, i = report["mujoco"]["rates"][str(n)], report["isaaclab"]["rates"][str(n)]
        print(f"{n:>6} {m:>20,.0f} {i:>22,.0f} {i / m:>7.2f}")
    for label in ("isaaclab_cold", "isaaclab_warm"):
        if label in report:
            r = report[label]
            s = r["setup_s"][str(first[0])]
            print(
                f"{label}: process {r['process_s']:.1f} s, scene build {s['build_s']:.1f} s, "
                f"first step {s['first_step_s']:.2f} s"
            )
    for sim, r in report["multirun"].items():
        print(
            f"multirun {sim}: {r['jobs']} jobs in {r['wall_s']:.1f} s; setup first job "
            f"{r['first_job_setup_s']:.2f} s, later jobs {r['later_job_setup_s_median']:.2f} s; "
            f"rss {r['rss_mb'][0]:.0f} -> {r['rss_mb'][-1]:.0f} MB"
        )
    for sim, r in report["rss_20_jobs"].items():
        first = ", ".join(f"{env} {rss[0]:.0f} MB" for env, rss in r["rss_mb"].items())
        print(
            f"rss over {r['jobs']} jobs {sim}: after the first of each scene {first}; worst "
            f"later job {r['max_growth_pct']:+.1f} %"
        )
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
