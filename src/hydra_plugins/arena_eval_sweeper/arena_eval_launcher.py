"""Submitit launchers that can run several sweep jobs in one task: ``jobs_per_task``.

Starting the simulator app is the expensive part on Isaac Sim, so jobs grouped into one SLURM
array task share one process and one app. The group travels through hydra-submitit-launcher's
own ``launch`` as a single override list holding a marker (``_arena_group_=<json>``); our
``__call__`` unpacks it and runs the group's jobs one after another, each in its own job
folder with its own job number. A requeued group (preemption, time-out) skips the jobs it had
already completed.

No `from __future__ import annotations` here: Hydra's plugin scan runs this module without
registering it in sys.modules, where dataclasses look string annotations up.
"""

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher

MARKER = "_arena_group_="


class _Grouped:
    """Mixin over a hydra-submitit launcher class."""

    def __init__(self, jobs_per_task: int = 1, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[call-arg]
        self.jobs_per_task = max(1, int(jobs_per_task))

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
        k = self.jobs_per_task
        if k == 1 or len(job_overrides) == 1:
            return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
        groups = []
        for g in range(math.ceil(len(job_overrides) / k)):
            members = [
                {"num": initial_job_idx + i, "overrides": list(job_overrides[i])}
                for i in range(g * k, min((g + 1) * k, len(job_overrides)))
            ]
            groups.append([MARKER + json.dumps(members)])
        per_group = super().launch(groups, initial_job_idx)  # type: ignore[misc]
        return [ret for group in per_group for ret in group]

    def __call__(
        self,
        sweep_overrides: list[str],
        job_dir_key: str,
        job_num: int,
        job_id: str,
        singleton_state: dict,
    ) -> Any:
        if not (sweep_overrides and sweep_overrides[0].startswith(MARKER)):
            return super().__call__(  # type: ignore[misc]
                sweep_overrides, job_dir_key, job_num, job_id, singleton_state
            )
        members = json.loads(sweep_overrides[0][len(MARKER) :])
        requeued = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0
        returns: list[JobReturn] = []
        for member in members:
            overrides = member["overrides"] + (["resume=true"] if requeued else [])
            returns.append(
                super().__call__(  # type: ignore[misc]
                    overrides, job_dir_key, member["num"], job_id, singleton_state
                )
            )
        return returns


class GroupedSlurmLauncher(_Grouped, SlurmLauncher):
    pass


class GroupedLocalLauncher(_Grouped, LocalLauncher):
    pass


@dataclass
class GroupedSlurmQueueConf(SlurmQueueConf):
    _target_: str = f"{__name__}.GroupedSlurmLauncher"
    jobs_per_task: int = 1


@dataclass
class GroupedLocalQueueConf(LocalQueueConf):
    _target_: str = f"{__name__}.GroupedLocalLauncher"
    jobs_per_task: int = 1


# Hydra imports plugin modules before it composes, so these are there for conf/hydra/launcher.
ConfigStore.instance().store(
    group="hydra/launcher",
    name="grouped_submitit_slurm",
    node=GroupedSlurmQueueConf,
    provider="arena_eval",
)
ConfigStore.instance().store(
    group="hydra/launcher",
    name="grouped_submitit_local",
    node=GroupedLocalQueueConf,
    provider="arena_eval",
)
