"""Sequential sweeps in one process: per-job isolation, resume, fail-fast, and the summary.

Hydra multiruns (``arena-eval -m``) and JSON job batches (``arena-eval-batch``) both run each
job through :func:`run_sweep_job`. The summary is built only from the jobs' results.json files
under the sweep folder, so it is the same for every launcher, including SLURM jobs that ran on
other nodes (``arena-eval-report <sweep dir>``).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import gc
import io
import json
import logging
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena_eval.results import EPISODES, RESULTS, atomic_write, read_results

log = logging.getLogger("arena_eval")
SUMMARY_FIELDS = (
    "job",
    "label",
    "status",
    "env",
    "embodiment",
    "policy",
    "objects",
    "num_episodes",
    "success_rate",
    "ci95_low",
    "ci95_high",
    "object_moved_rate",
    "door_moved_rate",
    "env_steps_per_s",
    "rollout_s",
    "error",
)
# Settings that change how a sweep runs, not what a job computes: ignored when resuming.
_RUN_ONLY_KEYS = ("resume", "fail_fast", "progress")


@dataclass
class SweepState:
    """What the jobs of this process's sweep have done so far (one sweep at a time)."""

    sweep_dir: Path | None = None
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stop: bool = False  # fail_fast tripped: the remaining jobs are not run

    def reset(self, sweep_dir: Path | None) -> None:
        self.sweep_dir, self.failed, self.skipped, self.stop = sweep_dir, [], [], False


STATE = SweepState()


def _job_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _RUN_ONLY_KEYS}


def completed_result(out_dir: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The job's results.json if it completed with this same config, else None."""
    path = out_dir / RESULTS
    if not path.is_file():
        return None
    try:
        results = read_results(path)
    except (OSError, json.JSONDecodeError):
        return None
    if results.get("status") != "completed":
        return None
    if _job_config(results.get("config", {})) != _job_config(config):
        log.warning("%s holds another job's results; running this job again", out_dir)
        return None
    return results


_frozen = False


def release_memory() -> None:
    """Between jobs: collect cycles, and hand freed heap back to the OS (glibc keeps it in
    its arenas otherwise, and schedulers bill RSS). Measured flat RSS over 60 jobs with it.

    After the first job, what survives it (imported modules, Hydra's repository, the app,
    compiled-model caches) is moved out of the collector's reach with ``gc.freeze()``: later
    collections scan only what later jobs allocated (45 -> ~5 ms a job); a job's own garbage,
    cycles included, is still collected."""
    global _frozen
    gc.collect()
    if not _frozen:
        gc.freeze()
        _frozen = True
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run_sweep_job(cfg: Any, out_dir: Path, label: str) -> float | None:
    """Run one job of a sweep. A failure is recorded (results.json + error.txt) and the sweep
    goes on, unless ``fail_fast``; a complete job is skipped when ``resume``."""
    from omegaconf import OmegaConf

    from arena_eval import signals
    from arena_eval.console import console
    from arena_eval.job import describe, run_job

    # Under submitit the job runs in a worker process that never ran our entry point, and
    # submitit itself ignores SIGTERM: without this, a cancelled SLURM task is killed before
    # it can save its finished episodes.
    signals.install()
    plain = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    if STATE.stop:
        _write_status(
            out_dir, plain, label, "skipped", "not run: an earlier job failed (fail_fast)"
        )
        STATE.skipped.append(label)
        return None
    if plain.get("resume"):
        done = completed_result(out_dir, plain)
        if done is not None:
            console.print(f"[dim]resume: {label} is complete, skipped[/]")
            STATE.skipped.append(label)
            return done["metrics"].get("success_rate")
    for stale in (RESULTS, EPISODES, "error.txt"):
        (out_dir / stale).unlink(missing_ok=True)
    try:
        result = run_job(cfg, out_dir, label=label)
    except Exception as err:
        release_memory()
        atomic_write(out_dir / "error.txt", traceback.format_exc())
        if not (out_dir / RESULTS).is_file():  # failed before the rollout: nothing written yet
            _write_status(out_dir, plain, label, "failed", describe(err))
        STATE.failed.append(label)
        console.print(f"[bold red]job failed:[/] {label}: {describe(err)}")
        console.print(f"  traceback: {out_dir / 'error.txt'}")
        if plain.get("fail_fast"):
            STATE.stop = True
        return None
    release_memory()
    return result.metrics.get("success_rate")


def _write_status(out_dir: Path, config: dict, label: str, status: str, error: str) -> None:
    from arena_eval.results import SCHEMA_VERSION

    policy = config.get("policy") or {}
    results = {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "label": label,
        "error": error,
        "job": {
            "env": (config.get("env") or {}).get("name"),
            "embodiment": (config.get("embodiment") or {}).get("name"),
            "objects": config.get("object_set") or [(config.get("object") or {}).get("name")],
            "policy": policy.get("name") or policy.get("_target_"),
        },
        "metrics": {"num_episodes": 0},
        "config": config,
    }
    atomic_write(out_dir / RESULTS, json.dumps(results, indent=2, default=str) + "\n")


# -- the summary ---------------------------------------------------------------------------


def _job_order(path: Path) -> tuple:
    """Job folders in numeric order: 2 before 10; ``3_name`` sorts by its number."""
    match = re.match(r"(\d+)", path.parent.name)
    return (int(match.group(1)) if match else 1 << 30, path.parent.name)


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder under ``sweep_dir`` that holds a results.json."""
    rows = []
    # A job that started (Hydra wrote its .hydra) but left no results.json was killed hard:
    # list it, never leave it silently out.
    for hydra_dir in Path(sweep_dir).glob("*/.hydra"):
        if not (hydra_dir.parent / RESULTS).exists():
            rows.append(
                {
                    "job": hydra_dir.parent.name,
                    "label": hydra_dir.parent.name,
                    "status": "missing",
                    "num_episodes": 0,
                    "error": "the job started but wrote no results.json (killed?)",
                }
            )
    for path in sorted(Path(sweep_dir).glob(f"*/{RESULTS}"), key=_job_order):
        try:
            results = read_results(path)
        except (OSError, json.JSONDecodeError) as err:
            rows.append({"job": path.parent.name, "status": "unreadable", "error": str(err)})
            continue
        job, metrics = results.get("job", {}), results.get("metrics", {})
        low, high = metrics.get("success_ci95", [None, None])
        rows.append(
            {
                "job": path.parent.name,
                "label": results.get("label") or path.parent.name,
                "status": results.get("status"),
                "env": job.get("env"),
                "embodiment": job.get("embodiment"),
                "policy": job.get("policy"),
                "objects": ",".join(o for o in job.get("objects", []) if o),
                "num_episodes": metrics.get("num_episodes", 0),
                "success_rate": metrics.get("success_rate"),
                "ci95_low": low,
                "ci95_high": high,
                "object_moved_rate": metrics.get("object_moved_rate"),
                "door_moved_rate": metrics.get("door_moved_rate"),
                "env_steps_per_s": results.get("timing", {}).get("env_steps_per_s"),
                "rollout_s": results.get("timing", {}).get("rollout_s"),
                "error": results.get("error"),
            }
        )
    return rows


def shorten_labels(rows: list[dict[str, Any]]) -> None:
    """Drop the overrides every job shares, so labels show what the sweep varies."""
    tokens = [str(r.get("label") or "").split() for r in rows]
    if len(rows) < 2:
        return
    common = set(tokens[0]).intersection(*map(set, tokens[1:]))
    for row, toks in zip(rows, tokens, strict=True):
        kept = [t for t in toks if t not in common]
        row["label"] = " ".join(kept) or row["job"]


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]]) -> list[Path]:
    sweep_dir = Path(sweep_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(sweep_dir / "summary.csv", buf.getvalue())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.get("status") or "unknown"] = counts.get(row.get("status") or "unknown", 0) + 1
    summary = {
        "sweep_dir": str(sweep_dir),
        "jobs": len(rows),
        "status_counts": counts,
        "rows": rows,
    }
    atomic_write(sweep_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    paths = [sweep_dir / "summary.csv", sweep_dir / "summary.json"]
    if any(r.get("success_rate") is not None for r in rows):
        paths.append(plot_summary(sweep_dir / "summary.png", rows))
    return paths


def plot_summary(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Success rate per job with its 95 % Wilson interval and episode count."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window, works on headless nodes
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("success_rate") is not None]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.15 * len(rows) + 1.5), 4.5))
    x = range(len(rows))
    rates = [100 * r["success_rate"] for r in rows]
    lower = [100 * (r["success_rate"] - r["ci95_low"]) for r in rows]
    upper = [100 * (r["ci95_high"] - r["success_rate"]) for r in rows]
    ax.bar(x, rates, color="#4C72B0", yerr=[lower, upper], capsize=4, ecolor="#333333")
    for i, row in enumerate(rows):
        top = 100 * row["ci95_high"]
        ax.text(i, top + 1.5, f"n={row['num_episodes']}", ha="center", va="bottom", fontsize=8)
    # "env=lift_object policy=scripted" -> "lift_object\nscripted": values only, stacked.
    ticks = ["\n".join(t.split("=", 1)[-1] for t in str(r["label"]).split()) for r in rows]
    ax.set_xticks(list(x), ticks, fontsize=8)
    ax.set_ylim(0, 112)
    ax.set_ylabel("success rate (%) with 95 % CI")
    ax.set_title("arena-eval sweep")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summary_table(rows: list[dict[str, Any]], title: str):
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for col in ("job", "status", "success (95 % CI)", "n", "obj moved", "door moved", "steps/s"):
        table.add_column(col, justify="left" if col in ("job", "status") else "right")
    for row in rows:
        rate = row.get("success_rate")
        success = (
            f"{100 * rate:.1f} % [{100 * row['ci95_low']:.0f}, {100 * row['ci95_high']:.0f}]"
            if rate is not None
            else "-"
        )
        status = row.get("status") or "?"
        style = {"completed": "green", "failed": "red", "interrupted": "yellow"}.get(status, "dim")
        table.add_row(
            str(row.get("label")),
            f"[{style}]{status}[/]",
            success,
            str(row.get("num_episodes", 0)),
            _fmt_pct(row.get("object_moved_rate")),
            _fmt_pct(row.get("door_moved_rate")),
            f"{row['env_steps_per_s']:,.0f}" if row.get("env_steps_per_s") else "-",
        )
    return table


def _fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def report(sweep_dir: Path, show: bool = True) -> list[dict[str, Any]]:
    """Collect, write summary.csv/json/png, and print the table. Returns the rows."""
    from arena_eval.console import console

    rows = collect(sweep_dir)
    rows.sort(key=lambda r: _job_order(Path(str(r.get("job")), RESULTS)))
    shorten_labels(rows)
    STATE.failed = [str(r.get("label")) for r in rows if r.get("status") != "completed"]
    if not rows:
        console.print(f"[yellow]no results.json under {sweep_dir}[/]")
        return rows
    paths = write_summary(sweep_dir, rows)
    from arena_eval.report import safe, sweep_report

    page = safe(sweep_report, sweep_dir, rows)
    if page is not None:
        paths.append(page)
    if show:
        console.print(summary_table(rows, f"sweep: {sweep_dir}"))
        for row in rows:
            if row.get("error"):
                console.print(f"[red]{row.get('status')}:[/] {row['label']}: {row['error']}")
        console.print("summary: " + ", ".join(str(p) for p in paths))
    return rows


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency; keep report usable without it
    Callback = object  # type: ignore[assignment,misc]


class SummaryCallback(Callback):
    """Hydra callback: after a multirun, summarise every job's results.json in the sweep dir.

    Hydra hands ``on_multirun_end`` no job returns (and under submitit job callbacks run on
    remote nodes), so the summary reads the files.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        STATE.reset(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        report(Path(config.hydra.sweep.dir))
