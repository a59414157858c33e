"""Adapter to Isaac Lab. Needs the optional ``isaaclab`` extra (Python 3.12 + CUDA)."""

from __future__ import annotations

from arena_eval.config import JobSpec


class IsaacLabUnavailable(RuntimeError):
    pass


class IsaacLabBackend:
    name = "isaaclab"

    def __init__(self, params: dict) -> None:
        try:
            from isaaclab.app import AppLauncher  # noqa: F401
        except ImportError as err:
            raise IsaacLabUnavailable(
                "sim=isaaclab needs Isaac Lab, which is not installed here "
                f"({err}). It needs Python 3.12 and CUDA: install it on a GPU machine, or use "
                "the embedded backend with sim=mujoco (the default)."
            ) from None
        raise IsaacLabUnavailable(
            "sim=isaaclab: Isaac Lab is importable but the adapter's env mapping is not built "
            "yet in this version; use sim=mujoco."
        )

    def make_env(self, job: JobSpec, rank: int = 0):  # pragma: no cover - unreachable for now
        raise NotImplementedError

    def close(self) -> None:
        pass
