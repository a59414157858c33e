"""run_job: the one place that wires a job together (config -> app -> env -> policy -> results)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from arena_eval import distributed
from arena_eval.app import SimApp
from arena_eval.config import JobSpec, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.metrics import compute_metrics
from arena_eval.policies.base import make_policy, resolve_policy_class
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
    exception then propagates. Under torchrun (``distributed=true``) the ranks split the
    episodes and rank 0 alone writes one results.json for all of them.
    """
    job = validate(cfg)
    dist = distributed.setup(job.distributed)
    if dist.active and job.nthread == 0:  # ranks on one node share its cores, not each all
        job = job.replace(nthread=max(1, (os.cpu_count() or 1) // dist.local_world_size))
    show = show and dist.is_main
    out_dir = Path(output_dir) if output_dir else hydra_output_dir() or Path("outputs/adhoc")
    start = time.perf_counter()
    app = SimApp.get(job)
    envs = policy = recorder = dataset = None
    try:
        envs = EnvSlot(app, job, dist.rank)
        env = envs.env
        if job.record_video and dist.is_main:  # under torchrun, rank 0 records its episodes
            recorder = envs.recorder = _recorder(job, env, out_dir)
        policy = make_job_policy(job, env)
        if job.language_instruction:
            policy.set_task_description(job.language_instruction)
        configured = (job.length_kind, job.length_n)
        kind, n = configured if job.length_fixed else policy.length() or configured
        if job.record_dataset:  # the episodes as a LeRobotDataset (recording.py)
            from arena_eval.recording import RecordingEnv, make_recorder

            envs.wrapped, dataset = make_recorder(job, env, out_dir)
            envs.wrap = lambda built: RecordingEnv(built, dataset)  # for rebuilt envs
        setup_s = time.perf_counter() - start
        out = RolloutOutput()
        status, error = "completed", None
        try:
            _run(envs, policy, job, kind, n, show, out, dist)
        except Exception as err:
            status, error = "failed", err
        except BaseException as err:  # SIGINT/SIGTERM: flush, never wait on other ranks
            status, error = "interrupted", err
        videos = recorder.close() if recorder is not None else None
        dataset_info = dataset.close() if dataset is not None else None
        error_text = describe(error) if error is not None else None
        per_rank = None
        if dist.active and status != "interrupted":
            out, error_text, per_rank = _reduce(dist, out, error_text)
            status = "failed" if error_text else status
        if dist.is_main:
            results = _results(job, cfg, out, kind, n, setup_s, policy, app, out_dir)
            results.update(status=status, label=label or job.name)
            if error_text:
                results["error"] = error_text
            if per_rank is not None:
                results["distributed"] = per_rank
            # Zero for a job without cameras: a batch renders only for the jobs that ask.
            timing = results["timing"]
            timing["images_rendered"] = envs.images_rendered
            timing["images_per_s"] = envs.images_rendered / out.wall_s if out.wall_s > 0 else 0.0
            if job.num_rebuilds > 1:
                results["rebuilds"] = envs.segments
            if videos is not None:
                results["videos"] = videos
            if dataset_info is not None:
                results["dataset"] = dataset_info
            setup = getattr(envs.env, "setup_timing", None)
            if setup:  # Isaac Lab: app start, USD, scene build and first step
                results["timing"]["setup"] = dict(setup)
            write_results(out_dir, results, out.records)
            from arena_eval.report import job_report, safe

            safe(job_report, out_dir)
            if show:
                _present(job, results, out_dir)
        else:
            results = {"metrics": {}}
        if error is not None:
            raise error
        if status == "failed":  # another rank failed: every rank fails the job
            raise RankFailed(error_text)
        return JobResult(status, results["metrics"], out_dir, results)
    finally:
        if recorder is not None:
            recorder.close()  # idempotent: drops unfinished videos if anything above raised
        if dataset is not None:
            dataset.close()  # idempotent: finalizes what was written if anything above raised
        if envs is not None:
            envs.close()
        if policy is not None:
            policy.close()
        distributed.teardown(dist)


def make_job_policy(job: JobSpec, env):
    """The job's policy. A task-space policy (``action_mode = "ee_delta"``, the scripted
    expert) on a joint-space embodiment that carries an IK drives it through that IK."""
    name = str(job.policy.get("_target_") or job.policy.get("name") or "")
    wants = getattr(resolve_policy_class(name), "action_mode", None) if name else None
    if wants == "ee_delta" and env.spec.action_mode != "ee_delta" and hasattr(env, "task_space"):
        task_space = env.task_space()
        if task_space is not None:
            from arena_eval.policies.task_space import TaskSpacePolicy

            inner = make_policy(job.policy, task_space.spec)
            return TaskSpacePolicy(inner, task_space, env.spec)
    return make_policy(job.policy, env.spec)


def _recorder(job: JobSpec, env, out_dir: Path):
    from arena_eval.config import ConfigError
    from arena_eval.video import VideoRecorder

    if not hasattr(env, "recorder"):
        raise ConfigError(f"record_video=true: the {job.backend} backend cannot record videos")
    cams = job.cameras
    recorder = VideoRecorder(out_dir / cams.video_dir, job.control_hz, cams.video_envs, out_dir)
    env.recorder = recorder
    return recorder


class RankFailed(RuntimeError):
    """Another rank of this distributed job raised; the message names it and its error."""


def _reduce(dist, out: RolloutOutput, error_text: str | None):
    """Gather every rank's episodes (and errors) on rank 0; merge them into one output."""
    report = distributed.RankReport(
        dist.rank, out.records, out.steps, out.env_steps, out.wall_s, out.policy_s, error_text
    )
    reports = distributed.gather(dist, report)
    if reports is None:
        return out, error_text, None
    merged = RolloutOutput(
        records=[r for rep in reports for r in rep.records],
        steps=sum(rep.steps for rep in reports),
        env_steps=sum(rep.env_steps for rep in reports),
        wall_s=max(rep.wall_s for rep in reports),
        policy_s=[t for rep in reports for t in rep.policy_s],
    )
    errors = [f"rank {rep.rank}: {rep.error}" for rep in reports if rep.error]
    per_rank = {
        "world_size": dist.world_size,
        "backend": dist.backend,
        "ranks": [
            {
                "rank": rep.rank,
                "episodes": len(rep.records),
                "env_steps": rep.env_steps,
                "env_steps_per_s": rep.env_steps / rep.wall_s if rep.wall_s > 0 else 0.0,
                "error": rep.error,
            }
            for rep in reports
        ],
    }
    return merged, "; ".join(errors) or None, per_rank


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class EnvSlot:
    """The job's env, rebuilt between the parts of a ``num_rebuilds`` run; closed at the end.

    Counts what every build rendered, and which episodes or steps each build ran."""

    def __init__(self, app: SimApp, job: JobSpec, rank: int) -> None:
        self.app, self.job, self.rank = app, job, rank
        self.env = app.make_env(job, rank=rank)
        # What the rollout steps: the env, or a wrapper around it (a dataset recorder), made
        # anew by ``wrap`` for each rebuilt env.
        self.wrapped: Any = self.env
        self.wrap: Callable[[Any], Any] | None = None
        self.recorder = None
        self._images_before = 0  # rendered by earlier builds
        self.segments: list[dict[str, Any]] = []

    def rebuild(self) -> Any:
        self._close_env()
        self.env = self.wrapped = self.app.make_env(self.job, rank=self.rank)
        if self.recorder is not None:
            self.env.recorder = self.recorder
        if self.wrap is not None:
            self.wrapped = self.wrap(self.env)
        return self.wrapped

    @property
    def images_rendered(self) -> int:
        return self._images_before + getattr(self.env, "images_rendered", 0)

    def _close_env(self) -> None:
        if self.env is not None:
            self._images_before += getattr(self.env, "images_rendered", 0)
            self.env.close()
            self.env = None

    def close(self) -> None:
        self._close_env()


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` split into ``parts`` consecutive (start, count) ranges, the remainder to the first
    ones (the reference's num_rebuilds rule)."""
    sizes = [n // parts + (1 if i < n % parts else 0) for i in range(parts)]
    starts = [sum(sizes[:i]) for i in range(parts)]
    return list(zip(starts, sizes, strict=True))


def _run(
    envs: EnvSlot, policy, job: JobSpec, kind: str, n: int, show: bool, out: RolloutOutput, dist
) -> None:
    from arena_eval.console import ProgressDisplay

    title = f"{job.task} · {job.embodiment} · {job.policy.get('name')}"
    unit = "episodes" if kind == "episodes" else "steps"
    successes = 0
    own = dist.share(n) if kind == "steps" else n  # steps are split; episodes by index
    # Rank 0's bar shows its own share of the work.
    total = own if kind == "steps" else len(range(dist.rank, n, dist.world_size))
    with ProgressDisplay(title, total, unit, enabled=show and job.progress) as bar:

        def progress(steps: int, episodes: int, new) -> None:
            nonlocal successes
            successes += sum(r.success for r in new)
            bar.update(episodes if kind == "episodes" else steps, episodes, successes)

        # Steps: one episode source across builds, so a later build's episodes are new ones.
        steps_source = dist.episode_source(job.seed, kind, n) if kind == "steps" else None
        for part, (start, count) in enumerate(
            split(own if kind == "steps" else n, job.num_rebuilds)
        ):
            env = envs.wrapped if part == 0 else envs.rebuild()
            if part and getattr(policy, "task_space", None) is not None:
                policy.task_space = env.task_space()  # the IK view of the rebuilt env
            before = len(out.records)
            if kind == "steps":
                rollout(env, policy, kind, count, steps_source, progress, out)
                envs.segments.append({"steps": count, "episodes": len(out.records) - before})
            else:  # this build's episode indices: [start, start + count), interleaved by rank
                source = EpisodeSource(job.seed, start + count, start + dist.rank, dist.world_size)
                rollout(env, policy, kind, count, source, progress, out)
                envs.segments.append(
                    {"first_episode": start, "episodes": len(out.records) - before}
                )


def _results(
    job, cfg, out: RolloutOutput, kind, n, setup_s, policy, app, out_dir
) -> dict[str, Any]:
    metrics = compute_metrics(out.records)
    notes = []
    if not out.records:
        notes.append(
            f"no episode finished within {out.steps} steps (an episode of {job.task} lasts up "
            f"to {policy.spec.max_episode_steps} steps): use length=episodes, or "
            f"length.n >= {policy.spec.max_episode_steps}, to get metrics"
        )
    if policy.spec.task_info.get("success_defined") is False:
        notes.append(
            f"{policy.spec.embodiment} has no success term: success_rate is not defined "
            "(every termination counts as a failure)"
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
    varied = _variations(job, out.records, notes)
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
        **varied,
    }


def _variations(job: JobSpec, records, notes: list[str]) -> dict[str, Any]:
    """results.json's ``variations``: the settings, the recorded columns, the analysis."""
    if not job.variations:
        return {}
    from arena_eval.analysis import analyse
    from arena_eval.variations import Variations

    variations = Variations(job.variations)
    columns = variations.columns()
    image_only = variations.image_only()
    if image_only and not job.enable_cameras:
        notes.append(
            f"variation(s) {', '.join(image_only)} change only camera images, and this job "
            "renders none (enable_cameras=false): they cannot change its outcomes"
        )
    return {
        "variations": {
            "config": variations.describe(),
            "columns": {
                c.key: {"kind": c.kind, "unit": c.unit, "csv": c.csv, "multi": c.multi}
                for c in columns
            },
            "analysis": analyse(records, columns),
        }
    }


def _present(job: JobSpec, results: dict[str, Any], out_dir: Path) -> None:
    from arena_eval.console import console, metrics_table, show

    summary = results["job"]
    title = " · ".join([job.task, job.embodiment, str(summary["policy"]), *summary["objects"]])
    show(metrics_table(title, results["metrics"], results["timing"]))
    for note in results["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"results: {out_dir / RESULTS}")
