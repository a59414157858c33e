"""Simulator backends behind one env protocol (base.py)."""

from __future__ import annotations

from arena_eval.config import JobSpec
from arena_eval.envs.base import EnvSpec


def spec_from_job(job: JobSpec) -> EnvSpec:
    """The env spec a job would have, built without a simulator (policy servers use it)."""
    from arena_eval.envs.mujoco.backend import build_spec

    return build_spec(job)
