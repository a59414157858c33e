"""The reference's YAML Experiments (``arena-eval-batch --experiment_config exp.yaml``).

An Experiment has an optional ``name``, optional ``shared`` defaults merged under every run,
and ``runs`` (run name -> ``environment``, ``policy``, ``environment_builder``,
``rollout_limit``, ``num_rebuilds``, ``variations``). ``key=value`` tokens such as
``runs.baseline.rollout_limit.num_steps=2`` or ``shared.environment_builder.num_envs=4``
override the file first. Each run then becomes one job of the reference's JSON format and goes
through the same translation as a JSON job (:func:`arena_eval.batch.translate_job`), so both
inputs compose exactly the configs ``arena-eval`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena_eval.batch import BatchJob, refuse_unknown, translate_job
from arena_eval.config import ConfigError

TOP_KEYS = {"name", "shared", "runs"}
RUN_KEYS = {
    "environment",
    "policy",
    "environment_builder",
    "rollout_limit",
    "num_rebuilds",
    "variations",
}
# environment_builder keys -> where they go in a JSON job (None: no effect here, noted).
BUILDER_KEYS = {
    "num_envs": "num_envs",
    "seed": "seed",
    "language_instruction": "language_instruction",
    "env_spacing": None,
    "record_trajectories": None,
}
LIMIT_KEYS = {"num_steps", "num_episodes"}
# The reference's pick-and-place environments name their object pick_up_object.
ENVIRONMENT_ALIASES = {"pick_up_object": "object"}


def is_override(token: str) -> bool:
    """Whether a command-line token overrides the Experiment file (not a job's config)."""
    key = token.split("=", 1)[0]
    return "=" in token and (key == "name" or key.split(".", 1)[0] in ("runs", "shared"))


def load_experiment(
    path: Path, overrides: list[str], default_length: tuple[str, int] | None
) -> tuple[str | None, list[BatchJob]]:
    """The Experiment at ``path`` with ``overrides`` applied, as (its name, its jobs)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"experiment file {path} does not exist") from None
    try:
        data = OmegaConf.create(text)
        if overrides:
            data = OmegaConf.merge(data, OmegaConf.from_dotlist(list(overrides)))
        plain = OmegaConf.to_container(data, resolve=True)
    except (OmegaConfBaseException, ValueError) as err:
        raise ConfigError(f"experiment file {path}: {err}") from None
    if not isinstance(plain, dict) or not isinstance(plain.get("runs"), dict) or not plain["runs"]:
        raise ConfigError(f"experiment file {path}: expected a mapping with runs: {{name: run}}")
    refuse_unknown(plain, TOP_KEYS, f"experiment file {path}", "key")
    shared = plain.get("shared") or {}
    if not isinstance(shared, dict):
        raise ConfigError(f"experiment file {path}: shared must be a mapping")
    jobs = []
    for index, (name, run) in enumerate(plain["runs"].items()):
        try:
            if not isinstance(run, dict):
                raise ConfigError(f"run {name!r}: expected a mapping, got {run!r}")
            job = run_as_job(str(name), _merge(shared, run))
            jobs.append(translate_job(job, default_length, index))
        except ConfigError as err:
            jobs.append(BatchJob(str(name), [], {}, error=str(err)))
    name = plain.get("name")
    return (str(name) if name else None), jobs


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, mappings merged key by key (a run lists only what differs)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _section(run: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = run.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} must be a mapping, got {value!r}")
    return dict(value)


def run_as_job(name: str, run: dict[str, Any]) -> dict[str, Any]:
    """One Experiment run (shared already merged) -> one job of the reference's JSON format."""
    where = f"run {name!r}"
    refuse_unknown(run, RUN_KEYS, where, "key")
    environment = _section(run, "environment", where)
    if not environment.get("type"):
        raise ConfigError(f"{where}: environment.type is required (an environment name)")
    env_args: dict[str, Any] = {"environment": environment.pop("type")}
    for key, value in environment.items():
        env_args[ENVIRONMENT_ALIASES.get(key, key)] = value
    job: dict[str, Any] = {"name": name, "arena_env_args": env_args}
    builder = _section(run, "environment_builder", where)
    refuse_unknown(builder, set(BUILDER_KEYS), where, "environment_builder key")
    for key, value in builder.items():
        target = BUILDER_KEYS[key]
        if target == "language_instruction":
            job["language_instruction"] = value
        elif target is not None:
            env_args[target] = value
        # env_spacing and record_trajectories do nothing here: envs are separate simulations
        # and every episode is recorded in episodes.csv anyway.
    policy = _section(run, "policy", where)
    if not policy.get("type"):
        raise ConfigError(f"{where}: policy.type is required (a registered name or a dotted path)")
    job["policy_type"] = policy.pop("type")
    job["policy_config_dict"] = policy
    limit = _section(run, "rollout_limit", where)
    refuse_unknown(limit, LIMIT_KEYS, where, "rollout_limit key")
    for key in ("num_steps", "num_episodes"):
        value = limit.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: rollout_limit.{key} must be positive, got {value!r}")
            job[key] = value
    for key in ("num_rebuilds", "variations"):
        if run.get(key) is not None:
            job[key] = run[key]
    return job
