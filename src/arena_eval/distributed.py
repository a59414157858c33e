"""One job over several ranks (torchrun): split the episodes, gather the records on rank 0.

Rank r runs episode indices r, r+W, r+2W, ... (W = world size); every episode's seed comes
from (run seed, index), so the union over ranks is the same set of episodes as one process
runs, whatever W is. Each rank gathers (records, counts, error) to rank 0 even when it failed,
so no rank waits forever on one that raised; rank 0 writes the one results.json.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

from arena_eval.envs.base import EpisodeSource


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: str = "cpu"
    backend: str | None = None  # the torch.distributed backend, when a group is up

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def episode_source(self, seed: int, kind: str, n: int) -> EpisodeSource:
        budget = n if kind == "episodes" else None
        return EpisodeSource(seed, budget, start=self.rank, stride=self.world_size)

    def share(self, n: int) -> int:
        """This rank's part of ``n`` vectorized steps (the remainder goes to the first ranks)."""
        return n // self.world_size + (1 if self.rank < n % self.world_size else 0)


@dataclass
class RankReport:
    rank: int
    records: list = field(default_factory=list)
    steps: int = 0
    env_steps: int = 0
    wall_s: float = 0.0
    policy_s: list[float] = field(default_factory=list)
    error: str | None = None


def env_world() -> tuple[int, int, int, int]:
    """(rank, world, local rank, local world) from torchrun's environment."""
    get = os.environ.get
    return (
        int(get("RANK", 0)),
        int(get("WORLD_SIZE", 1)),
        int(get("LOCAL_RANK", 0)),
        int(get("LOCAL_WORLD_SIZE", get("WORLD_SIZE", 1))),
    )


def setup(enabled: bool, backend: str = "auto") -> DistInfo:
    """Join the process group torchrun describes; a no-op single rank otherwise."""
    rank, world, local_rank, local_world = env_world()
    if not enabled or world == 1:
        return DistInfo()
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    device = f"cuda:{local_rank}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(local_rank)
    chosen = ("nccl" if cuda else "gloo") if backend == "auto" else backend
    if not dist.is_initialized():
        # Records travel as Python objects; gloo carries them on CPU for either device kind.
        dist.init_process_group(chosen, timeout=datetime.timedelta(minutes=30))
    return DistInfo(rank, world, local_rank, local_world, device, chosen)


def gather(info: DistInfo, report: RankReport) -> list[RankReport] | None:
    """Every rank's report on rank 0 (None elsewhere)."""
    import torch.distributed as dist

    reports: list[Any] | None = [None] * info.world_size if info.is_main else None
    dist.gather_object(report, reports, dst=0)
    return reports


def teardown(info: DistInfo) -> None:
    if info.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
