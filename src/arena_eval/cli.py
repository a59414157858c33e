"""Console entry points. Thin: compose the config with Hydra, hand it to job.py / serve.py.

Heavy imports (mujoco, torch) happen inside the job, so ``--help``, ``--cfg job`` and config
errors answer fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from arena_eval import __version__
from arena_eval.config import ConfigError, register_configs


def conf_dir() -> Path:
    """The config tree: shipped inside the wheel, or the repository's conf/ in a checkout."""
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


def _fail(err: Exception, code: int = 2) -> None:
    from arena_eval.console import console

    console.print(f"[bold red]error:[/] {err}")
    raise SystemExit(code)


def _eval(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        from arena_eval.sweep import run_sweep_job

        label = " ".join(hc.overrides.task) or f"job {hc.job.num}"
        return run_sweep_job(cfg, Path(hc.runtime.output_dir), label)
    from arena_eval.job import run_job

    try:
        result = run_job(cfg)
    except ConfigError as err:
        _fail(err)
    return result.metrics.get("success_rate")


def _version() -> None:
    print(f"arena-eval {__version__} (hydra-core {hydra.__version__})")


def _replaying(argv: list[str]) -> bool:
    return any(a == "--config-dir" or a.startswith("--config-dir=") for a in argv)


def _output_overrides() -> list[str]:
    """Our output-folder settings (conf/hydra/default.yaml) as overrides, for saved configs.

    A job's saved ``.hydra/config.yaml`` holds the resolved job config but no defaults list,
    so replaying it would fall back to Hydra's own output folders without these.
    """
    import yaml  # plain YAML: the values are interpolations Hydra resolves later, not us

    hydra_cfg = yaml.safe_load((conf_dir() / "hydra" / "default.yaml").read_text())
    keys = (("run", "dir"), ("sweep", "dir"), ("sweep", "subdir"), ("job", "name"))
    return [f"hydra.{a}.{b}={hydra_cfg[a][b]}" for a, b in keys]


def hydra_entry(task, config_name: str = "config"):
    """Wrap ``task`` as a Hydra app over conf/, or over a saved run's ``--config-dir`` alone."""
    register_configs()
    argv = sys.argv[1:]
    if _replaying(argv):
        # The saved folder must be the only place the config name resolves: Hydra searches its
        # primary path first, where our own config.yaml would shadow the saved one.
        given = {a.split("=", 1)[0] for a in argv}
        sys.argv += [o for o in _output_overrides() if o.split("=", 1)[0] not in given]
        return hydra.main(config_path=None, config_name=config_name, version_base="1.3")(task)
    return hydra.main(config_path=str(conf_dir()), config_name=config_name, version_base="1.3")(
        task
    )


def _resume_latest_sweep(argv: list[str]) -> None:
    """``-m ... resume=true`` without a sweep folder continues the study's latest sweep."""
    if not ({"-m", "--multirun"} & set(argv)) or "resume=true" not in argv:
        return
    if any(a.startswith("hydra.sweep.dir=") for a in argv):
        return
    name = next((a.split("=", 1)[1] for a in argv if a.startswith("name=")), "default")
    sweeps = sorted(Path("outputs", name, "multiruns").glob("*"))
    if sweeps:
        from arena_eval.console import console

        console.print(f"resume: continuing {sweeps[-1]}")
        sys.argv.append(f"hydra.sweep.dir={sweeps[-1]}")


def run_hydra_app(task) -> None:
    """Run a Hydra app with our exit codes: 130/143 on SIGINT/SIGTERM (after flushing what
    finished), 1 when any job of a sweep failed."""
    from arena_eval import signals
    from arena_eval.sweep import STATE, report

    signals.install()
    try:
        hydra_entry(task)()
    except (KeyboardInterrupt, signals.Terminated) as err:
        from arena_eval.console import console

        console.print(f"[yellow]interrupted ({type(err).__name__}); finished episodes are saved[/]")
        if STATE.sweep_dir is not None:
            report(STATE.sweep_dir)
        raise SystemExit(signals.exit_code(err)) from None
    except (SystemExit, Exception) as err:
        # A launcher that lost a job (a cancelled SLURM task) fails the multirun before
        # Hydra's on_multirun_end (as SystemExit, or raised with HYDRA_FULL_ERROR=1):
        # summarise what the jobs left anyway.
        failed = not isinstance(err, SystemExit) or err.code not in (0, None)
        if failed and STATE.sweep_dir is not None:
            report(STATE.sweep_dir)
        raise
    if STATE.failed:
        raise SystemExit(1)


def _quiet_nonzero_ranks() -> None:
    """Under torchrun only rank 0 makes the job's folder; other ranks log to a temp folder."""
    import os
    import tempfile

    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        return
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", str(os.getppid()))
    folder = Path(tempfile.gettempdir()) / f"arena-eval-{run_id}-rank{rank}"
    sys.argv += [f"hydra.run.dir={folder}", "hydra.output_subdir=null"]


def main() -> None:
    """``arena-eval``: evaluate a policy; ``-m`` sweeps (see ``--help``)."""
    if "--version" in sys.argv[1:]:
        _version()
        return
    from arena_eval.variations import implied_selection

    sys.argv[1:] = implied_selection(sys.argv[1:])
    if "--list-variations" in sys.argv[1:] or "--list_variations" in sys.argv[1:]:
        _list_variations([a for a in sys.argv[1:] if not a.startswith("--list")])
        return
    _quiet_nonzero_ranks()
    _resume_latest_sweep(sys.argv[1:])
    run_hydra_app(_eval)


def _list_variations(overrides: list[str]) -> None:
    """``--list-variations env=... sim=...``: what this env can vary, with default ranges."""
    import yaml

    from arena_eval.config import compose, distractor_envs

    try:
        cfg = compose([o for o in overrides if o not in ("-m", "--multirun")])
    except Exception as err:  # a bad override: Hydra says which
        _fail(err)
    from arena_eval.variations import VARIATIONS, listing

    available = {}
    for name in VARIATIONS:  # each variation's shipped defaults (conf/variations/<name>.yaml)
        text = (conf_dir() / "variations" / f"{name}.yaml").read_text()
        available[name] = yaml.safe_load(text) or {}
    available.update(cfg.get("variations") or {})  # what this command line sets
    print(listing(cfg.sim.backend, cfg.env.name, distractor_envs(), available))


def batch_main() -> None:
    """``arena-eval-batch --eval_jobs_config jobs.json``: the reference's JSON jobs format."""
    from arena_eval import signals
    from arena_eval.batch import run_batch
    from arena_eval.sweep import STATE, report

    signals.install()
    try:
        code = run_batch(sys.argv[1:])
    except ConfigError as err:
        _fail(err)
    except (KeyboardInterrupt, signals.Terminated) as err:
        from arena_eval.console import console

        console.print(f"[yellow]interrupted ({type(err).__name__}); finished episodes are saved[/]")
        if STATE.sweep_dir is not None:
            report(STATE.sweep_dir)
        raise SystemExit(signals.exit_code(err)) from None
    raise SystemExit(code)


def report_main() -> None:
    """``arena-eval-report <dir>``: rebuild report.html of a job, or summarise a sweep that ran
    anywhere (e.g. SLURM) and rebuild its jobs' and its own report.html."""
    import argparse

    from arena_eval.report import job_report
    from arena_eval.results import RESULTS
    from arena_eval.sweep import report

    parser = argparse.ArgumentParser(
        prog="arena-eval-report",
        description="A job folder: rebuild its report.html. A sweep or batch folder: write "
        "summary.csv/json/png and report.html, rebuild each job's report.html, print the table.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="dir")
    args = parser.parse_args()
    if not args.sweep_dir.is_dir():
        _fail(ConfigError(f"{args.sweep_dir} is not a folder"))
    if (args.sweep_dir / RESULTS).is_file():
        print(f"report: {job_report(args.sweep_dir)}")
        return
    for results in sorted(args.sweep_dir.glob(f"*/{RESULTS}")):
        try:
            job_report(results.parent)
        except Exception as err:  # one unreadable job never stops the others' reports
            print(f"warning: {results.parent}: report.html not written: {err}")
    rows = report(args.sweep_dir)
    raise SystemExit(0 if rows and all(r.get("status") == "completed" for r in rows) else 1)


def _serve(cfg: DictConfig) -> None:
    from arena_eval.remote import InsecureBindError
    from arena_eval.serve import run_server

    try:
        run_server(cfg)
    except (ConfigError, InsecureBindError) as err:
        _fail(err)


def server_main() -> None:
    """``arena-eval-server policy=... server.port=5555``; ``arena-eval-server keygen DIR NAME``."""
    if sys.argv[1:2] == ["keygen"]:
        import argparse

        from arena_eval.serve import keygen

        parser = argparse.ArgumentParser(
            prog="arena-eval-server keygen",
            description="Write a CurveZMQ key pair: NAME.key (share it) and NAME.key_secret.",
        )
        parser.add_argument("directory", type=Path)
        parser.add_argument("name")
        args = parser.parse_args(sys.argv[2:])
        public, secret = keygen(args.directory, args.name)
        print(f"public key: {public}\nsecret key: {secret} (keep it private)")
        return
    if "--version" in sys.argv[1:]:
        _version()
        return
    from arena_eval import signals

    signals.install()
    try:
        hydra_entry(_serve, config_name="server")()
    except (KeyboardInterrupt, signals.Terminated):
        raise SystemExit(0) from None
