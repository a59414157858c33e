"""``env=isaaclab_task env.task=<gym id>``: any registered Isaac Lab task behind our env protocol.

The task's own config is resolved with Isaac Lab's presets (``presets=newton_mjwarp`` for the
kit-less physics), made with ``gym.make`` and stepped as it is: its observations (``policy``
and any other groups), its action space, its resets. Success comes from a termination term
whose name says ``success`` where the task has one (manager-based tasks); otherwise success is
not defined, every termination counts as a failure, and results.json says so.

Assets are read from ``ISAACSIM_ASSET_ROOT`` (a local folder): every USD file the config names
is checked before the env is made, so a missing one fails at once with its path instead of
Isaac Lab's minute of download retries.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch

from arena_eval.config import ConfigError, JobSpec
from arena_eval.envs.base import ArraySpec, EnvSpec, EpisodeRecord, EpisodeSource, StepResult
from arena_eval.envs.episodes import EpisodeBook

UNBOUNDED = 1.0  # action bound used where the task's action space is unbounded


def resolve_task_id(name: str) -> str:
    import gymnasium as gym
    import isaaclab_tasks  # noqa: F401  (registers the tasks)

    for candidate in (name, name.removesuffix("-v0")):
        if candidate in gym.registry:
            return candidate
    known = sorted(k for k in gym.registry if k.startswith("Isaac-"))
    raise ConfigError(
        f"env.task={name!r} is not a registered Isaac Lab task; some of the {len(known)} "
        f"registered: {', '.join(known[:8])} ..."
    )


def usd_paths(cfg: Any, seen: set[int] | None = None) -> list[str]:
    """Every ``usd_path`` named anywhere in a (config) object tree."""
    seen = set() if seen is None else seen
    if id(cfg) in seen or isinstance(cfg, str | int | float | bool | type(None)):
        return []
    seen.add(id(cfg))
    out = []
    items = (
        cfg.items()
        if isinstance(cfg, dict)
        else enumerate(cfg)
        if isinstance(cfg, list | tuple)
        else vars(cfg).items()
        if hasattr(cfg, "__dict__")
        else ()
    )
    for key, value in items:
        if key == "usd_path" and isinstance(value, str):
            out.append(value)
        elif key == "usd_path" and isinstance(value, list | tuple):
            out += [v for v in value if isinstance(v, str)]
        else:
            out += usd_paths(value, seen)
    return out


def check_assets(cfg: Any) -> None:
    missing = [p for p in dict.fromkeys(usd_paths(cfg)) if not os.path.exists(p)]
    if not missing:
        return
    root = os.environ.get("ISAACSIM_ASSET_ROOT")
    hint = (
        f"ISAACSIM_ASSET_ROOT={root} does not hold them"
        if root
        else "set ISAACSIM_ASSET_ROOT to a local folder that holds the task's assets"
    )
    raise ConfigError(
        "env=isaaclab_task: the task's assets are not on this machine (nothing is downloaded "
        f"at run time): {hint}; missing: {', '.join(missing)}"
    )


def make_task_env(job: JobSpec, device: str, rank: int = 0) -> IsaacLabTaskEnv:
    import gymnasium as gym
    from isaaclab_tasks.utils import resolve_task_config

    task_id = resolve_task_id(str(job.task_params.get("id", "")))
    physics = job.sim_params.get("physics", "newton_mjwarp")
    env_cfg, _ = resolve_task_config(task_id, None, overrides=(f"presets={physics}",))
    env_cfg.scene.num_envs = job.num_envs
    env_cfg.sim.device = device
    env_cfg.seed = job.seed
    check_assets(env_cfg)
    start = time.perf_counter()
    env = gym.make(task_id, cfg=env_cfg).unwrapped
    return IsaacLabTaskEnv(job, task_id, env, device, rank, time.perf_counter() - start)


def _success_term(env) -> str | None:
    manager = getattr(env, "termination_manager", None)
    if manager is None:
        return None
    return next((t for t in manager.active_terms if "success" in t.lower()), None)


class IsaacLabTaskEnv:
    def __init__(self, job: JobSpec, task_id: str, env, device: str, rank: int, build_s: float):
        self.env = env
        self.device = device
        n = env.num_envs
        obs_space = env.single_observation_space
        observations = {
            k: ArraySpec(tuple(int(d) for d in space.shape))
            for k, space in (obs_space.spaces.items() if hasattr(obs_space, "spaces") else ())
        }
        act = env.single_action_space
        low = np.where(np.isfinite(act.low), act.low, -UNBOUNDED).astype(float)
        high = np.where(np.isfinite(act.high), act.high, UNBOUNDED).astype(float)
        self.success_term = _success_term(env)
        self.spec = EnvSpec(
            task=job.task,
            embodiment=task_id,
            num_envs=n,
            observations=observations,
            action=ArraySpec(tuple(int(d) for d in act.shape)),
            action_names=tuple(f"a{i}" for i in range(int(np.prod(act.shape)))),
            action_low=tuple(low.ravel()),
            action_high=tuple(high.ravel()),
            action_mode="task",
            control_hz=1.0 / env.step_dt,
            max_episode_steps=int(env.max_episode_length),
            task_info={
                "gym_id": task_id,
                "success_defined": self.success_term is not None,
                "success_term": self.success_term,
                "reset_seeding": "the task's own generator, seeded once with the run seed",
            },
        )
        self.book = EpisodeBook(n, self.spec.max_episode_steps, rank)
        self.active = self.book.active
        self.setup_timing = {"scene_build_s": build_s}
        self.on_close = None

    def _np_obs(self, obs: dict) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in obs.items() if k in self.spec.observations}

    def reset(self, episodes: EpisodeSource) -> dict[str, np.ndarray]:
        self.book.begin(episodes)
        obs, _ = self.env.reset()
        self.book.start(np.arange(self.spec.num_envs))
        return self._np_obs(obs)

    def step(self, actions: np.ndarray) -> StepResult:
        start = time.perf_counter()
        action = torch.as_tensor(np.asarray(actions), dtype=torch.float32, device=self.device)
        obs, _reward, term, trunc, _info = self.env.step(action)
        if "first_step_s" not in self.setup_timing:
            self.setup_timing["first_step_s"] = time.perf_counter() - start
        term = term.detach().cpu().numpy().astype(bool)
        trunc = trunc.detach().cpu().numpy().astype(bool)
        if self.success_term is not None:
            success = self.env.termination_manager.get_term(self.success_term)
            success = success.detach().cpu().numpy().astype(bool) & term
        else:
            success = np.zeros_like(term)
        was_active, success, failure, terminated, truncated, done = self.book.advance(
            success, term & ~success, trunc
        )
        episodes = [self._record(int(i), bool(success[i]), bool(failure[i])) for i in done]
        # The task reset the finished envs itself; they start our next episodes.
        reset_ids = self.book.start(done) if done.size else done
        return self.book.result(
            self._np_obs(obs), success, terminated, truncated, episodes, reset_ids, was_active
        )

    def _record(self, env_id: int, success: bool, failure: bool) -> EpisodeRecord:
        return self.book.record(env_id, success, failure, "", False, None, {})

    def close(self) -> None:
        if self.env is not None:
            self.env.close()  # clears the task's simulation context
            self.env = None
