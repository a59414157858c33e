"""The reference system's JSON jobs file, run as a sequential batch in one process.

Each JSON job is translated (:func:`translate_job`, the one place that knows the reference's
keys) into the same Hydra overrides ``arena-eval`` takes; the composed config then runs
through the same per-job runner as a multirun (``sweep.run_sweep_job``).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena_eval.config import ConfigError, length_from

# Reference names that map cleanly onto ours. Anything else passes through unchanged and, if
# unknown, fails that job with the list of what exists.
ENV_ALIASES = {
    "gr1_open_microwave": "open_microwave",
    "gr1_sequential_static_manipulation": "fridge",
    "microwave": "open_microwave",
    "open_microwave_door": "open_microwave",
    "put_item_in_fridge_and_close_door": "fridge",
}
# Reference envs whose name fixes the robot: a job that names no embodiment gets this one.
ENV_EMBODIMENTS = {
    "gr1_open_microwave": "gr1_joint",
    "gr1_sequential_static_manipulation": "gr1_joint",
}
# gr1_pink is the reference's GR1 under end-effector targets (Pink IK): our gr1_ik; its G1
# under a whole-body controller takes task-space (pink) or joint targets: g1_ik / g1_joint.
EMBODIMENT_ALIASES = {
    "franka": "franka_ik",
    "franka_panda": "franka_ik",
    "gr1_pink": "gr1_ik",
    "g1_wbc_pink": "g1_ik",
    "g1_wbc_joint": "g1_joint",
}
# The reference's asset names (its HOPE and YCB "robolab" sets) -> our catalog objects.
OBJECT_ALIASES = {
    "alphabet_soup_can_hope_robolab": "alphabet_soup_can",
    "bbq_sauce_bottle_hope_robolab": "bbq_sauce_bottle",
    "cheez_it_ycb_robolab": "cracker_box",
    "cordless_drill_ycb_robolab": "power_drill",
    "ketchup_bottle_hope_robolab": "ketchup_bottle",
    "mayonnaise_bottle_hope_robolab": "mayonnaise_bottle",
    "mustard_bottle_hope_robolab": "mustard_bottle",
    "mustard_ycb_robolab": "mustard_bottle",
    "ranch_dressing_hope_robolab": "ranch_dressing_bottle",
    "sugar_box_ycb_robolab": "sugar_box",
    "tomato_sauce_can_hope_robolab": "tomato_sauce_can",
    "tomato_soup_can_ycb_robolab": "tomato_soup_can",
}
# arena_env_args keys we take. Keys of the reference's env builder that mean nothing here are
# noted; anything else is refused with the valid keys, never silently dropped.
_ENV_ARGS = {
    "environment",
    "embodiment",
    "object",
    "object_set",
    "num_envs",
    "enable_cameras",
    "seed",
    "language_instruction",
    "object_set_random",
    "random_object_choice",
}
_ENV_ARGS_NO_EFFECT = {"env_spacing", "placement_seed", "headless", "device", "hdr"}
_JOB_KEYS = {
    "name",
    "arena_env_args",
    "policy_type",
    "policy_config_dict",
    "policy_args",  # the older name of policy_config_dict
    "num_steps",
    "num_episodes",
    "num_rebuilds",
    "variations",
    "language_instruction",
}


@dataclass
class BatchJob:
    name: str
    overrides: list[str]
    policy: dict[str, Any]  # name + settings, merged over the composed policy group
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # a translation error: the job is recorded as failed, not run


def refuse_unknown(given: Any, valid: set[str], where: str, what: str = "field") -> None:
    """Raise ConfigError naming the keys of ``given`` outside ``valid``, and the valid ones."""
    unknown = sorted(set(given) - valid)
    if unknown:
        raise ConfigError(
            f"{where}: unknown {what}(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )


def _alias(table: dict[str, str], name: Any) -> Any:
    return table.get(name, name) if isinstance(name, str) else name


def translate_job(
    job: dict[str, Any], default_length: tuple[str, int] | None, index: int = 0
) -> BatchJob:
    """One reference job -> our overrides. Raises ConfigError for a malformed job."""
    if not isinstance(job, dict):
        raise ConfigError(f"job #{index}: expected an object, got {type(job).__name__}")
    name = str(job.get("name") or f"job_{index}")
    where = f"job {name!r}"
    args = job.get("arena_env_args") or {}
    if not isinstance(args, dict):
        raise ConfigError(f"{where}: arena_env_args must be an object")
    refuse_unknown(job, _JOB_KEYS, where)
    refuse_unknown(args, _ENV_ARGS | _ENV_ARGS_NO_EFFECT, where, "arena_env_args field")
    notes = [
        f"arena_env_args {k!r} has no effect here" for k in sorted(set(args) & _ENV_ARGS_NO_EFFECT)
    ]
    if job.get("variations"):
        raise ConfigError(
            f"{where}: variations are not supported yet: arena-eval cannot randomise scenes "
            "per episode; remove the field to run this job on its fixed scene"
        )
    overrides = []
    if "environment" not in args:
        raise ConfigError(f"{where}: arena_env_args.environment is required")
    environment = args["environment"]
    overrides.append(f"env={_alias(ENV_ALIASES, environment)}")
    if args.get("embodiment"):
        overrides.append(f"embodiment={_alias(EMBODIMENT_ALIASES, args['embodiment'])}")
    elif isinstance(environment, str) and environment in ENV_EMBODIMENTS:
        overrides.append(f"embodiment={ENV_EMBODIMENTS[environment]}")
    if args.get("object_set"):
        objects = [_alias(OBJECT_ALIASES, o) for o in args["object_set"]]
        overrides.append(f"object_set=[{','.join(objects)}]")
    elif args.get("object"):
        overrides.append(f"object={_alias(OBJECT_ALIASES, args['object'])}")
    if args.get("object_set_random") or args.get("random_object_choice"):
        overrides.append("object_set_random=true")
    for key in ("num_envs", "seed"):
        if args.get(key) is not None:
            overrides.append(f"{key}={int(args[key])}")
    if args.get("enable_cameras"):
        overrides.append("enable_cameras=true")
    instruction = job.get("language_instruction") or args.get("language_instruction")
    if instruction:
        overrides.append(f"language_instruction={json.dumps(str(instruction))}")
    # The job's own length wins, then the policy's own length, then the CLI default.
    explicit = job.get("num_steps") is not None or job.get("num_episodes") is not None
    kind, n = length_from(
        job.get("num_steps"), job.get("num_episodes"), default_length or ("episodes", 0), where
    )
    if explicit:
        overrides += [f"length={kind}", f"length.n={n}", "length.fixed=true"]
    elif default_length is not None:
        overrides += [f"length={kind}", f"length.n={n}"]
    rebuilds = job.get("num_rebuilds")
    if rebuilds is not None:
        if not isinstance(rebuilds, int) or isinstance(rebuilds, bool) or rebuilds < 1:
            raise ConfigError(f"{where}: num_rebuilds must be a positive integer, got {rebuilds!r}")
        overrides.append(f"num_rebuilds={rebuilds}")
    policy_type = job.get("policy_type")
    if not policy_type:
        raise ConfigError(f"{where}: policy_type is required (a registered name or a dotted path)")
    if job.get("policy_config_dict") is not None and job.get("policy_args") is not None:
        raise ConfigError(
            f"{where}: give policy_config_dict or its older name policy_args, not both"
        )
    settings = job.get("policy_config_dict") or job.get("policy_args") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: policy_config_dict must be an object")
    kind = str(policy_type).rsplit(".", 1)[-1]
    if kind == GR00T_IN_PROCESS:
        return BatchJob(
            name,
            overrides,
            {},
            notes,
            error=(
                f"{where}: {policy_type} runs the GR00T model inside the reference's process "
                "(torch, CUDA, the model's weights). arena-eval asks a GR00T inference server "
                "instead: serve the model with Isaac-GR00T's server and use policy_type "
                f"{GR00T_REMOTE} (or policy=gr00t policy.host=... policy.port=...)"
            ),
        )
    if kind == GR00T_REMOTE:
        policy, more_overrides, more_notes = gr00t_remote(settings, where)
        return BatchJob(name, overrides + more_overrides, policy, notes + more_notes)
    if kind in CHUNKING_CLIENTS:
        policy, more_notes = chunking_client(settings)
        return BatchJob(name, [*overrides, "policy=remote"], policy, notes + more_notes)
    return BatchJob(name, overrides, {"name": str(policy_type), **settings}, notes)


# The reference's client-side policies that ask a remote server for action chunks: our
# policy=remote (the server being arena-eval-server).
CHUNKING_CLIENTS = ("ActionChunkingClientSidePolicy", "ActionChunkingClientPolicy")
_REMOTE_KEYS = {
    "remote_host": "host",
    "host": "host",
    "remote_port": "port",
    "port": "port",
    "remote_kill_on_exit": "kill_on_exit",
}


def chunking_client(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The reference's action-chunking client settings -> policy=remote's."""
    policy: dict[str, Any] = {"name": "remote"}
    notes = []
    for key, value in settings.items():
        if value is None:
            continue
        if key in _REMOTE_KEYS:
            policy[_REMOTE_KEYS[key]] = value
        elif key in ("remote_api_token", "api_token"):
            raise ConfigError(
                "an API token does not authenticate arena-eval-server: it uses CURVE keys "
                "(policy.client_secret_key_file and policy.server_public_key_file; see "
                "docs/remote_protocol.md)"
            )
        elif key == "remote_timeout_ms":
            policy["timeout_s"] = float(value) / 1000.0
        else:
            notes.append(f"ignored action-chunking client setting {key!r}")
    return policy, notes


GR00T_IN_PROCESS = "Gr00tClosedloopPolicy"
GR00T_REMOTE = "Gr00tRemoteClosedloopPolicy"
# The reference's GR00T policy config keys that mean something to policy=gr00t.
_GR00T_KEYS = {
    "action_chunk_length": "action_chunk_length",
    "language_instruction": "instruction",
    "host": "host",
    "remote_host": "host",
    "server_host": "host",
    "port": "port",
    "remote_port": "port",
    "server_port": "port",
    "api_token": "api_token",
}


def gr00t_remote(settings: dict[str, Any], where: str) -> tuple[dict, list[str], list[str]]:
    """The reference's remote GR00T job -> policy=gr00t: its config YAML's fields that apply
    (action chunk, image size, instruction, server address), then policy_config_dict's."""
    import yaml

    fields: dict[str, Any] = {}
    notes = []
    path = settings.get("policy_config_yaml_path")
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            notes.append(f"policy_config_yaml_path {path} not found: policy=gr00t's defaults")
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{where}: {path} is not a YAML mapping")
        fields.update(loaded)
    fields.update({k: v for k, v in settings.items() if k != "policy_config_yaml_path"})
    policy: dict[str, Any] = {"name": "gr00t"}
    for key, value in fields.items():
        if key in _GR00T_KEYS and value is not None:
            policy[_GR00T_KEYS[key]] = value
        elif key == "target_image_size" and value is not None:
            size = list(value)[:2] if isinstance(value, list | tuple) else [int(value)] * 2
            policy["image_size"] = [int(v) for v in size]
        elif key == "action_horizon":
            notes.append(f"action_horizon={value}: the server's modality config decides it")
        else:
            notes.append(f"ignored GR00T config key {key!r}")
    # GR00T's GR1 model takes the hands' six joints each and the head camera's view.
    overrides = ["policy=gr00t", "embodiment.params.hands=fingers", "enable_cameras=true"]
    overrides.append("cameras.names=[head]")
    return policy, overrides, notes


def load_jobs(path: Path, default_length: tuple[str, int] | None) -> list[BatchJob]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"jobs file {path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"jobs file {path} is not valid JSON: {err}") from None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list) or not jobs:
        raise ConfigError(f'jobs file {path}: expected {{"jobs": [ ... ]}} with at least one job')
    out = []
    for i, job in enumerate(jobs):
        try:
            out.append(translate_job(job, default_length, i))
        except ConfigError as err:
            name = job.get("name") if isinstance(job, dict) else None
            out.append(BatchJob(str(name or f"job_{i}"), [], {}, error=str(err)))
    # Cameras stay per job: the reference turns them on for every job once one asks (Isaac
    # Sim's app needs camera support at start); our backends render only where a job asks.
    return out


def load_any(
    path: Path, overrides: list[str], default_length: tuple[str, int] | None
) -> tuple[list[BatchJob], str | None, list[str]]:
    """A JSON jobs file or a YAML Experiment (by its suffix) -> (jobs, the Experiment's name,
    the overrides left for every job's config)."""
    from arena_eval.experiments import is_override, load_experiment

    mine = [o for o in overrides if is_override(o)]
    rest = [o for o in overrides if not is_override(o)]
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        name, jobs = load_experiment(path, mine, default_length)
        return jobs, name, rest
    if mine:
        raise ConfigError(
            f"{', '.join(mine)}: runs./shared. overrides apply to a YAML Experiment, "
            f"and {path} is a JSON jobs file"
        )
    return load_jobs(path, default_length), None, rest


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "job"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arena-eval-batch",
        description="Run the jobs of a reference-format jobs file (JSON jobs, or a YAML "
        "Experiment) one after another in one process and one simulator app, then summarise them.",
    )
    p.add_argument(
        "--experiment_config",
        "--eval_jobs_config",
        dest="jobs_file",
        required=True,
        type=Path,
        help='a JSON jobs file ({"jobs": [...]}) or a YAML Experiment (shared + runs)',
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument("--num_steps", type=int, help="default length for jobs that set none")
    length.add_argument("--num_episodes", type=int, help="default length for jobs that set none")
    p.add_argument("--fail_fast", action="store_true", help="stop at the first failed job")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="BATCH_DIR",
        help="continue an earlier batch's folder, skipping its completed jobs",
    )
    p.add_argument(
        "--name",
        help="study name: outputs/<name>/batches/<time> (default: the Experiment's name, or batch)",
    )
    p.add_argument("--output_dir", type=Path, help="the batch folder (default: under outputs/)")
    p.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides applied to every job, e.g. num_envs=4; with a YAML Experiment, "
        "runs.<run>.<key>=<value> and shared.<key>=<value> override the file",
    )
    return p


def run_batch(argv: list[str] | None = None) -> int:
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from arena_eval.config import compose
    from arena_eval.console import console
    from arena_eval.sweep import STATE, _write_status, report, run_sweep_job

    args = _parser().parse_args(argv)
    default = None
    if args.num_steps is not None or args.num_episodes is not None:
        default = length_from(args.num_steps, args.num_episodes, where="command line")
    jobs, name, job_overrides = load_any(args.jobs_file, args.overrides, default)
    name = args.name or name or "batch"
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S") + f"-{time.time_ns() % 1_000_000:06d}"
    root = args.resume or args.output_dir or Path("outputs", name, "batches", stamp)
    root.mkdir(parents=True, exist_ok=True)
    STATE.reset(root)
    console.print(f"batch: {len(jobs)} jobs from {args.jobs_file} -> {root}")
    extra = [*job_overrides, f"name={name}"]
    if args.fail_fast:
        extra.append("fail_fast=true")
    if args.resume:
        extra.append("resume=true")
    for i, job in enumerate(jobs):
        out_dir = root / f"{i}_{_slug(job.name)}"
        console.rule(f"[bold]{i + 1}/{len(jobs)}: {job.name}")
        try:
            if job.error:
                raise ConfigError(job.error)
            cfg = compose([*job.overrides, *extra])
            base = (
                OmegaConf.to_container(cfg.policy)
                if job.policy["name"] == cfg.policy.get("name")
                else {}
            )
            cfg.policy = OmegaConf.create({**base, **job.policy})
        except (ConfigError, HydraException) as err:
            STATE.failed.append(job.name)
            _write_status(
                out_dir, {"job_overrides": job.overrides}, job.name, "failed", f"{job.name}: {err}"
            )
            console.print(f"[bold red]job failed:[/] {job.name}: {err}")
            if args.fail_fast:
                STATE.stop = True
            continue
        for note in job.notes:
            console.print(f"[yellow]note:[/] {job.name}: {note}")
        run_sweep_job(cfg, out_dir, job.name)
    report(root)
    return 1 if STATE.failed else 0
