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
    from arena_eval.job import run_job

    try:
        result = run_job(cfg)
    except ConfigError as err:
        _fail(err)
    return result.metrics.get("success_rate")


def _version() -> None:
    print(f"arena-eval {__version__} (hydra-core {hydra.__version__})")


def main() -> None:
    """``arena-eval``: evaluate a policy; ``-m`` sweeps (see ``--help``)."""
    if "--version" in sys.argv[1:]:
        _version()
        return
    register_configs()
    run = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(_eval)
    run()
