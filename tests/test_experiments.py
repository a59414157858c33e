"""YAML-only experiments: each composes and validates; each runs as a sweep (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from arena_eval.cli import conf_dir
from arena_eval.config import compose, validate
from tests.test_sweep import arena, results

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes(name: str) -> None:
    job = validate(compose([f"experiment={name}"]))
    assert job.name == name
    with_hydra = compose([f"experiment={name}"], return_hydra_config=True)
    params = OmegaConf.select(with_hydra, "hydra.sweeper.params") or {}
    for group, values in params.items():  # every swept value is a real option
        for value in str(values).split(","):
            validate(compose([f"experiment={name}", f"{group}={value}"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_as_a_sweep(tmp_path: Path, name: str) -> None:
    proc = arena(
        "-m", f"experiment={name}", "progress=false", "length.n=4", "num_envs=4", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    (folder,) = (tmp_path / "outputs" / name / "multiruns").iterdir()
    out = results(folder)
    assert out and all(r["status"] == "completed" for r in out)
    for r in out:
        if r["job"]["policy"] == "scripted":
            assert r["metrics"]["success_rate"] >= 0.75
