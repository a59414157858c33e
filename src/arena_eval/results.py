"""Writing and reading a job's results: results.json and episodes.csv, written atomically."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from arena_eval.envs.base import EpisodeRecord

RESULTS = "results.json"
EPISODES = "episodes.csv"
VARIATION_PREFIX = "var."  # episodes.csv columns of drawn variation values
SCHEMA_VERSION = 1
_PACKAGES = ("arena-eval", "mujoco", "numpy", "hydra-core", "omegaconf", "torch", "pyzmq")


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def episodes_csv(records: list[EpisodeRecord]) -> str:
    buf = io.StringIO()
    subtasks = sorted({k for r in records for k in r.subtasks})
    # Variation columns in the order they were drawn (variations.py's fixed order).
    varied = list(dict.fromkeys(k for r in records for k in r.variations))
    skip = ("subtasks", "variations")
    fields = [f.name for f in dataclasses.fields(EpisodeRecord) if f.name not in skip]
    writer = csv.writer(buf)
    writer.writerow(
        fields + [f"subtask_{k}" for k in subtasks] + [f"{VARIATION_PREFIX}{k}" for k in varied]
    )
    for r in sorted(records, key=lambda r: r.episode_index):
        row = [getattr(r, f) for f in fields]
        writer.writerow(
            ["" if v is None else int(v) if isinstance(v, bool) else v for v in row]
            + [int(r.subtasks.get(k, False)) for k in subtasks]
            + [_cell(r.variations.get(k)) for k in varied]
        )
    return buf.getvalue()


def _cell(value: Any) -> Any:
    """A variation value as written: floats with repr's round-trip digits, None empty."""
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, float) else value


def read_episodes(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_results(out_dir: Path, results: dict[str, Any], records: list[EpisodeRecord]) -> Path:
    atomic_write(out_dir / EPISODES, episodes_csv(records))
    path = out_dir / RESULTS
    atomic_write(path, json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    return path


def read_results(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _git_sha() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=2
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def _static_provenance() -> dict[str, Any]:
    """What cannot change within a process; looked up once (metadata scans cost ~15 ms)."""
    versions = {}
    for package in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "versions": versions,
        "python": platform.python_version(),
        "git_sha": _git_sha(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }


def provenance(seed: int) -> dict[str, Any]:
    return {**_static_provenance(), "seed": seed, "argv": list(sys.argv)}
