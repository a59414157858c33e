"""run_job: the one place that wires a job together (config -> app -> env -> policy -> results)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from arena_eval.app import SimApp
from arena_eval.config import JobSpec, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.metrics import compute_metrics
from arena_eval.policies.base import make_policy
from arena_eval.results import RESULTS, SCHEMA_VERSION, provenance, write_results
from arena_eval.rollout import RolloutOutput, latency_ms, rollout

log = logging.getLogger("arena_eval")


@dataclass
class JobResult:
    status: str  # "completed" | "interrupted" | "failed"
    metrics: dict[str, Any]
    output_dir: Path
    results: dict[str, Any] = field(default_factory=dict)


def hydra_output_dir() -> Path | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except (ImportError, ValueError):
        return None


def reproduce_command(out_dir: Path) -> str:
    return f"arena-eval --config-dir {out_dir / '.hydra'} --config-name config"


def run_job(
    cfg: Any, output_dir: Path | str | None = None, show: bool = True, label: str | None = None
) -> JobResult:
    """Evaluate one composed config; write results.json and episodes.csv; return the metrics.

    Whatever ends the rollout — completion, an exception, SIGINT or SIGTERM — results.json is
    written with every episode that finished, and a status that says which it was; the
    exception then propagates.
    """
    job = validate(cfg)
    out_dir = Path(output_dir) if output_dir else hydra_output_dir() or Path("outputs/adhoc")
    start = time.perf_counter()
    app = SimApp.get(job)
    env = policy = None
    try:
        env = app.make_env(job)
        policy = make_policy(job.policy, env.spec)
        if job.language_instruction:
            policy.set_task_description(job.language_instruction)
        configured = (job.length_kind, job.length_n)
        kind, n = configured if job.length_fixed else policy.length() or configured
        setup_s = time.perf_counter() - start
        out = RolloutOutput()
        status, error = "completed", None
        try:
            _run(env, policy, job, kind, n, show, out)
        except BaseException as err:
            status = "failed" if isinstance(err, Exception) else "interrupted"
            error = err
            raise
        finally:
            results = _results(job, cfg, out, kind, n, setup_s, policy, app, out_dir)
            results["status"] = status
            results["label"] = label or job.name
            if error is not None:
                results["error"] = describe(error)
            write_results(out_dir, results, out.records)
            if show:
                _present(job, results, out_dir)
        return JobResult(status, results["metrics"], out_dir, results)
    finally:
        if env is not None:
            env.close()
        if policy is not None:
            policy.close()


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _run(env, policy, job: JobSpec, kind: str, n: int, show: bool, out: RolloutOutput) -> None:
    from arena_eval.console import ProgressDisplay

    title = f"{job.task} · {job.embodiment} · {job.policy.get('name')}"
    unit = "episodes" if kind == "episodes" else "steps"
    successes = 0
    source = EpisodeSource(job.seed, n if kind == "episodes" else None)
    with ProgressDisplay(title, n, unit, enabled=show and job.progress) as bar:

        def progress(steps: int, episodes: int, new) -> None:
            nonlocal successes
            successes += sum(r.success for r in new)
            bar.update(episodes if kind == "episodes" else steps, episodes, successes)

        rollout(env, policy, kind, n, source, progress, out)


def _results(
    job, cfg, out: RolloutOutput, kind, n, setup_s, policy, app, out_dir
) -> dict[str, Any]:
    metrics = compute_metrics(out.records)
    notes = []
    if not out.records:
        notes.append(
            f"no episode finished within {out.steps} steps (episodes last up to "
            f"{job.length_n if kind == 'episodes' else 'the task time limit'}); "
            "use length=episodes, or more steps, to get metrics"
        )
    timing = {
        "setup_s": setup_s,
        "rollout_s": out.wall_s,
        "steps": out.steps,
        "env_steps": out.env_steps,
        "env_steps_per_s": out.env_steps / out.wall_s if out.wall_s > 0 else 0.0,
        "policy_latency_ms": latency_ms(out.policy_s),
    }
    stats = getattr(policy, "stats", None)
    if callable(stats):
        timing["policy_stats"] = stats()
    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "completed",
        "name": job.name,
        "job": {
            "env": job.task,
            "embodiment": job.embodiment,
            "objects": sorted(set(job.objects)),
            "policy": job.policy.get("name") or job.policy.get("_target_"),
            "num_envs": job.num_envs,
            "length": {"kind": kind, "n": n},
            "seed": job.seed,
            "backend": job.backend,
        },
        "metrics": metrics,
        "notes": notes,
        "timing": timing,
        "app": app.stats,
        "reproduce": reproduce_command(out_dir),
        "provenance": provenance(job.seed),
        "config": config,
    }


def _present(job: JobSpec, results: dict[str, Any], out_dir: Path) -> None:
    from arena_eval.console import console, metrics_table, show

    summary = results["job"]
    title = " · ".join([job.task, job.embodiment, str(summary["policy"]), *summary["objects"]])
    show(metrics_table(title, results["metrics"], results["timing"]))
    for note in results["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"results: {out_dir / RESULTS}")
