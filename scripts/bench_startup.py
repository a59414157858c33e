"""Time from the command to the first env step: ``arena-eval ... length=steps length.n=1``.

Each repeat runs the command in a fresh process and splits its wall time into what results.json
records (setup: env build incl. the model, policy; the one step) and the rest (interpreter,
imports, Hydra's composition, writing results). The baseline, measured in the same run, is the
same command with the compiled-model cache off (``ARENA_EVAL_MODEL_CACHE=0``: every process
compiles its scene, as before the cache). Medians of --repeats, interleaved.

    .venv/bin/python scripts/bench_startup.py [--repeats 5] [--embodiment franka_ik]
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

EXE = str(Path(sys.executable).parent / "arena-eval")


def once(args: list[str], cache: bool) -> tuple[float, float]:
    """(wall seconds, setup seconds from results.json) of one fresh process."""
    env = {**os.environ, "ARENA_EVAL_MODEL_CACHE": "1" if cache else "0"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([EXE, *args], cwd=tmp, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        (results,) = Path(tmp).glob("outputs/**/results.json")
        return wall, json.loads(results.read_text())["timing"]["setup_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--env", default="lift_object")
    parser.add_argument("--embodiment", default="franka_ik")
    parser.add_argument("--policy", default="zero_action")
    a = parser.parse_args()
    args = [
        f"env={a.env}",
        f"embodiment={a.embodiment}",
        f"policy={a.policy}",
        "length=steps",
        "length.n=1",
        "progress=false",
    ]
    once(args, True)  # fills the cache (and the OS's file cache) before measuring
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(a.repeats):
        for cache in (False, True):
            runs[cache].append(once(args, cache))
    print(f"arena-eval {' '.join(args)}: medians of {a.repeats} fresh processes")
    for cache, label in ((False, "compile the scene (no cache)"), (True, "compiled-model cache")):
        wall = statistics.median(r[0] for r in runs[cache])
        setup = statistics.median(r[1] for r in runs[cache])
        print(f"{label:30s}: command to first step {wall:5.2f} s (job setup {setup:4.2f} s)")
    before = statistics.median(r[0] for r in runs[False])
    after = statistics.median(r[0] for r in runs[True])
    print(f"first_step={after:.2f} s (was {before:.2f} s without the cache)")


if __name__ == "__main__":
    main()
