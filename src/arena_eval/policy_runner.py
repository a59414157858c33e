"""``arena-eval-policy-runner``: the reference's single-job command line, unchanged.

Its flags become one job of the reference's JSON format, translated by the same code as a JSON
job (:func:`arena_eval.batch.translate_job`), and the resulting overrides run as ``arena-eval``
would run them (one Hydra job: its folder, ``.hydra`` config and reproduce command). Flags we
do not support are refused by name with what to use instead.

    arena-eval-policy-runner --policy_type zero_action --num_steps 2000 --num_envs 4 \\
        --enable_cameras put_item_in_fridge_and_close_door --embodiment gr1_joint \\
        --object_set ketchup_bottle_hope_robolab ranch_dressing_hope_robolab
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from arena_eval.config import ConfigError

# The reference's flags that have no counterpart here, and what to do instead.
REFUSED = {
    "--record_viewport_video": "there is no viewport here: use --record_camera_video",
    "--policy_config_yaml_path": (
        "only the remote GR00T policy reads a config YAML: use --policy_type "
        "Gr00tRemoteClosedloopPolicy with it, or arena-eval policy=<name> policy.<key>=<value>"
    ),
    "--list_variations": "arena-eval has no scene variations yet",
    "--remote_transport": "the remote policy speaks ZMQ only (policy=remote)",
}
# Accepted for compatibility; they change nothing here (noted on the console).
NO_EFFECT = {
    "headless": "--headless: always headless",
    "env_spacing": "--env_spacing: envs are separate simulations",
    "placement_seed": "--placement_seed: placements derive from --seed",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's exit code 2, our wording
        raise ConfigError(f"arena-eval-policy-runner: {message}")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="arena-eval-policy-runner",
        description="Run one evaluation from the reference's policy-runner flags "
        "(translated onto arena-eval's config; see docs/reference.md).",
        allow_abbrev=False,
    )
    p.add_argument("--policy_type", required=True, help="a registered policy or a dotted path")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--num_steps", type=int, help="vectorized steps to run")
    length.add_argument("--num_episodes", type=int, help="episodes to finish, exactly")
    p.add_argument("--num_envs", type=int, default=1)
    p.add_argument("--seed", type=int, default=42, help="the reference's default: 42")
    p.add_argument("--device", help="cpu | cuda | cuda:N (torch policies)")
    p.add_argument(
        "--distributed", action="store_true", help="split the work across torchrun ranks"
    )
    p.add_argument("--enable_cameras", action="store_true")
    p.add_argument("--record_camera_video", action="store_true", help="one mp4 per episode")
    p.add_argument("--video_base_dir", help="where videos go (default: <job folder>/videos)")
    p.add_argument("--language_instruction")
    p.add_argument("--headless", action="store_true")
    p.add_argument("--env_spacing", type=float)
    p.add_argument("--placement_seed", type=int)
    remote = p.add_argument_group("remote policy (ActionChunkingClientSidePolicy -> policy=remote)")
    remote.add_argument("--remote_host")
    remote.add_argument("--remote_port", type=int)
    remote.add_argument("--remote_api_token")
    remote.add_argument("--remote_timeout_ms", type=int)
    remote.add_argument("--remote_kill_on_exit", action="store_true")
    p.add_argument("environment", help="the environment, e.g. put_item_in_fridge_and_close_door")
    p.add_argument("--embodiment")
    objects = p.add_mutually_exclusive_group()
    objects.add_argument("--object")
    objects.add_argument("--object_set", nargs="+")
    p.add_argument("--random_object_choice", action="store_true")
    return p


def _refuse_unsupported(argv: list[str]) -> None:
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if flag in REFUSED:
            raise ConfigError(f"arena-eval-policy-runner: {flag} is not supported: {REFUSED[flag]}")


def as_job(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed flags as one job of the reference's JSON format."""
    env_args: dict[str, Any] = {
        "environment": args.environment,
        "num_envs": args.num_envs,
        "seed": args.seed,
        "enable_cameras": args.enable_cameras,
    }
    for key in ("embodiment", "object", "object_set"):
        if getattr(args, key):
            env_args[key] = getattr(args, key)
    if args.random_object_choice:
        env_args["random_object_choice"] = True
    settings = {
        key: getattr(args, key)
        for key in ("remote_host", "remote_port", "remote_api_token", "remote_timeout_ms")
        if getattr(args, key) is not None
    }
    if args.remote_kill_on_exit:
        settings["remote_kill_on_exit"] = True
    job: dict[str, Any] = {
        "name": args.environment,
        "arena_env_args": env_args,
        "policy_type": args.policy_type,
        "policy_config_dict": settings,
    }
    for key in ("num_steps", "num_episodes", "language_instruction"):
        if getattr(args, key) is not None:
            job[key] = getattr(args, key)
    return job


def _value(value: Any) -> str:
    """A Python value as a Hydra override value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))


def policy_overrides(policy: dict[str, Any], overrides: list[str]) -> list[str]:
    """A translated job's policy (name + settings) as overrides of the policy group."""
    from arena_eval.cli import conf_dir

    name = str(policy.get("name") or "")
    out = []
    chosen = any(o.startswith("policy=") for o in overrides)
    if not chosen:
        if (conf_dir() / "policy" / f"{name}.yaml").is_file():
            out.append(f"policy={name}")
        else:  # a dotted class path
            out.append(f"policy.name={_value(name)}")
    out += [f"++policy.{k}={_value(v)}" for k, v in policy.items() if k != "name"]
    return out


def translate(argv: list[str]) -> tuple[list[str], list[str]]:
    """The reference's flags -> (arena-eval overrides, notes). Raises ConfigError."""
    from arena_eval.batch import translate_job

    _refuse_unsupported(argv)
    args, unknown = parser().parse_known_args(argv)
    if unknown:
        raise ConfigError(
            f"arena-eval-policy-runner: unsupported argument(s) {' '.join(unknown)}; "
            "see --help, or run arena-eval with overrides (arena-eval --help)"
        )
    if args.num_steps is None and args.num_episodes is None:
        raise ConfigError("arena-eval-policy-runner: give --num_steps or --num_episodes")
    if (args.num_steps or args.num_episodes or 0) < 1 or args.num_envs < 1:
        raise ConfigError("arena-eval-policy-runner: lengths and --num_envs must be positive")
    job = translate_job(as_job(args), None)
    if job.error:
        raise ConfigError(job.error)
    overrides = [*job.overrides, *policy_overrides(job.policy, job.overrides)]
    if args.record_camera_video:
        overrides.append("record_video=true")
    if args.video_base_dir:
        overrides.append(f"cameras.video_dir={_value(args.video_base_dir)}")
    if args.device:
        overrides.append(f"device={args.device}")
    if args.distributed:
        overrides.append("distributed=true")
    notes = list(job.notes)
    notes += [text for key, text in NO_EFFECT.items() if getattr(args, key) not in (None, False)]
    return overrides, notes


def main() -> None:
    from arena_eval import cli
    from arena_eval.console import console

    argv = sys.argv[1:]
    if argv in ([], ["-h"], ["--help"]):
        parser().print_help()
        raise SystemExit(0 if argv else 2)
    try:
        overrides, notes = translate(argv)
    except ConfigError as err:
        console.print(f"[bold red]error:[/] {err}")
        raise SystemExit(2) from None
    for note in notes:
        console.print(f"[yellow]note:[/] {note} (no effect here)")
    console.print(f"[dim]arena-eval {' '.join(overrides)}[/]")
    sys.argv = [sys.argv[0], *overrides]
    cli.main()
