"""SimApp: the persistent simulator app of this process, created once and reused by every job.

On MuJoCo it caches compiled models per (env, embodiment, object); on Isaac Lab it holds the
one Isaac Lab app a process may start (kit-less Newton, or Isaac Sim's Kit for PhysX). Jobs
create and close envs; the app stays.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, ClassVar

from arena_eval.config import JobSpec


def rss_mb() -> float | None:
    """Resident memory of this process now (Linux), so sweeps can show growth across jobs."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class SimApp:
    _instance: ClassVar[SimApp | None] = None

    def __init__(self, backend_name: str, nthread: int, params: dict[str, Any]) -> None:
        self.backend_name = backend_name
        self.pid = os.getpid()
        self.id = uuid.uuid4().hex[:12]  # this app's identity: the same for every job it runs
        self.jobs = 0
        if backend_name == "mujoco":
            from arena_eval.envs.mujoco.backend import MujocoBackend

            self.backend = MujocoBackend(nthread)
        else:
            from arena_eval.envs.isaaclab.backend import IsaacLabBackend

            self.backend = IsaacLabBackend(params)

    @classmethod
    def get(cls, job: JobSpec) -> SimApp:
        app = cls._instance
        if app is not None and app.pid != os.getpid():
            app = None  # a forked child must not reuse its parent's native state
        if app is None:
            app = cls._instance = cls(job.backend, job.nthread, job.sim_params)
        elif app.backend_name != job.backend:
            raise RuntimeError(
                f"this process already runs the {app.backend_name} app; a job asked for "
                f"sim={job.backend}. One process hosts one simulator app: run other backends "
                "in another process."
            )
        return app

    @classmethod
    def current(cls) -> SimApp | None:
        return cls._instance

    def make_env(self, job: JobSpec, rank: int = 0):
        self.jobs += 1
        return self.backend.make_env(job, rank)

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "backend": self.backend_name,
            "pid": self.pid,
            "app_id": self.id,
            "jobs": self.jobs,
            "rss_mb": rss_mb(),
            **getattr(self.backend, "stats", {}),
        }

    @classmethod
    def shutdown(cls) -> None:
        if cls._instance is not None:
            cls._instance.backend.close()
            cls._instance = None
