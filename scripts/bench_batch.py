"""Per-job overhead of sequential batches, and memory across 100 jobs in one process.

(a) 20 short jobs as one Hydra multirun (one process, one app) against (b) the same 20 jobs
as 20 processes. Overhead per job = (wall time - time in rollouts) / jobs, with rollout times
read from each job's results.json. Then 100 jobs in one multirun, reading the process RSS
each job recorded at its end. Medians of --repeats for (a) and (b).

    .venv/bin/python scripts/bench_batch.py [--jobs 20] [--rss-jobs 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXE = str(Path(sys.executable).parent / "arena-eval")
JOB = [
    "env=lift_object",
    "policy=zero_action",
    "num_envs=4",
    "length=steps",
    "length.n=25",
    "progress=false",
]


def _results(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in root.glob("outputs/**/results.json")]


def one_process(jobs: int) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        seeds = ",".join(str(s) for s in range(jobs))
        subprocess.run([EXE, "-m", f"seed={seeds}", *JOB], cwd=tmp, check=True, capture_output=True)
        return time.perf_counter() - start, _results(Path(tmp))


def process_per_job(jobs: int) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for seed in range(jobs):
            subprocess.run([EXE, f"seed={seed}", *JOB], cwd=tmp, check=True, capture_output=True)
        return time.perf_counter() - start, _results(Path(tmp))


def overhead(wall: float, results: list[dict]) -> float:
    return (wall - sum(r["timing"]["rollout_s"] for r in results)) / len(results)


def rss_over_jobs(jobs: int) -> tuple[list[float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        objects = "cracker_box,mustard_bottle,power_drill,sugar_box,tomato_soup_can"
        seeds = ",".join(str(s) for s in range(jobs // 10))
        subprocess.run(
            [
                EXE,
                "-m",
                f"seed={seeds}",  # the first override varies slowest: models compile first
                "env=lift_object,open_microwave",
                f"object={objects}",
                *JOB[1:],
            ],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        rows = sorted(_results(Path(tmp)), key=lambda r: r["app"]["jobs"])
        # Models built so far: compiled, or loaded from the compiled-model cache on disk.
        compiled = [r["app"]["models_compiled"] + r["app"].get("models_loaded", 0) for r in rows]
        warm = compiled.index(max(compiled)) + 1  # first job after the last compilation
        return [r["app"]["rss_mb"] for r in rows], warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--rss-jobs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    modes = {"(a) one process, multirun": one_process, "(b) one process per job": process_per_job}
    amortized: dict[str, list[float]] = {m: [] for m in modes}
    marginal: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode, run in modes.items():
            wall_1, res_1 = run(1)
            wall_n, res_n = run(args.jobs)
            amortized[mode].append(overhead(wall_n, res_n))
            extra = (wall_n - sum(r["timing"]["rollout_s"] for r in res_n)) - (
                wall_1 - res_1[0]["timing"]["rollout_s"]
            )
            marginal[mode].append(extra / (args.jobs - 1))
    print(f"{args.jobs} jobs of {' '.join(JOB)}; overhead = wall time outside rollouts")
    med = {m: (statistics.median(amortized[m]), statistics.median(marginal[m])) for m in modes}
    for mode in modes:
        print(
            f"{mode:26s}: {med[mode][0]:6.3f} s/job amortized, {med[mode][1]:6.3f} s/job marginal"
        )
    (a_am, a_mg), (b_am, b_mg) = med.values()
    print(f"ratio (b)/(a): {b_am / a_am:.1f}x amortized, {b_mg / a_mg:.1f}x marginal")

    rss, base = rss_over_jobs(args.rss_jobs)  # from job base + 1 on, every model is cached
    slope = np.polyfit(np.arange(base, len(rss)), rss[base:], 1)[0]
    growth = 100 * (rss[-1] - rss[base]) / rss[base]
    print(
        f"RSS: job 1 {rss[0]:.0f} MB, job {base + 1} {rss[base]:.0f} MB, "
        f"job {len(rss)} {rss[-1]:.0f} MB (2 envs x 5 objects x {len(rss) // 10} seeds)"
    )
    print(f"RSS slope after job {base + 1}: {slope * 1024:.0f} KB/job; growth: {growth:.2f} %")
    print(f"overhead_a={a_am:.3f}s ratio={b_am / a_am:.1f} rss_growth={growth:.2f}%")


if __name__ == "__main__":
    main()
