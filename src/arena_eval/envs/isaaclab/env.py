"""The batched env on Isaac Lab: one ``InteractiveScene`` of ``num_envs`` copies of our scene.

The same task code as on MuJoCo (resets, terms, subtasks, object/door moved) runs on a
:class:`StateView`; the same :class:`EpisodeBook` counts episodes. Every env steps every
control step (Isaac Lab steps the whole world); envs whose episode no longer counts hold
still and report nothing.
"""

from __future__ import annotations

import time

import numpy as np

from arena_eval.envs.base import EnvSpec, EpisodeRecord, EpisodeSource, StepResult
from arena_eval.envs.episodes import EpisodeBook
from arena_eval.envs.isaaclab.franka import IsaacFranka
from arena_eval.envs.isaaclab.state import StateView


class IsaacLabEnv:
    def __init__(
        self,
        spec: EnvSpec,
        sim,
        scene,
        robot: IsaacFranka,
        task_state,
        obj_name: str,
        decimation: int,
        rank: int = 0,
    ) -> None:
        self.spec = spec
        self.sim = sim
        self.scene = scene
        self.robot = robot
        self.task = task_state
        self.view: StateView = task_state.sims
        self.obj_name = obj_name
        self.decimation = decimation
        self.dt = sim.get_physics_dt()
        n = spec.num_envs
        self.book = EpisodeBook(n, spec.max_episode_steps, rank)
        self.active = self.book.active
        self.obs = {k: np.zeros((n, *s.shape), dtype=s.dtype) for k, s in spec.observations.items()}
        self._zero_reward = np.zeros(n, dtype=np.float32)
        self.first_step_s: float | None = None
        self.setup_timing: dict = {}
        self.on_close = None  # the backend's teardown of this job's simulation context

    # -- episodes ------------------------------------------------------------------------
    def reset(self, episodes: EpisodeSource) -> dict[str, np.ndarray]:
        self.book.begin(episodes)
        self._start(np.arange(self.spec.num_envs))
        self._observe()
        return {k: v.copy() for k, v in self.obs.items()}

    def _start(self, env_ids: np.ndarray) -> np.ndarray:
        started = self.book.start(env_ids)
        if started.size:
            self.robot.reset(started)
            self.view.pull()
            self.task.reset(started, self.book.rngs(started))
            self.view.push(started)
            # Kinematics of the written state, as MuJoCo's forward() gives them.
            self.sim.forward()
            self.scene.update(0.0)
            self.view.pull()
            self.robot.after_reset(started)
            self.task.after_reset(started)
        return started

    # -- stepping ------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> StepResult:
        start = time.perf_counter()
        self.robot.apply(np.asarray(actions, dtype=np.float64))
        for _ in range(self.decimation):
            self.scene.write_data_to_sim()
            self.sim.step(render=False)
            self.scene.update(self.dt)
        self.view.pull()
        if self.first_step_s is None:
            self.first_step_s = time.perf_counter() - start
            self.setup_timing["first_step_s"] = self.first_step_s
        success, failure = self.task.update()
        was_active, success, failure, terminated, truncated, done = self.book.advance(
            success, failure
        )
        episodes = [self._episode(int(i), bool(success[i]), bool(failure[i])) for i in done]
        reset_ids = self._start(done) if done.size else done
        self._observe()
        return StepResult(
            obs={k: v.copy() for k, v in self.obs.items()},
            reward=success.astype(np.float32) if done.size else self._zero_reward,
            terminated=terminated,
            truncated=truncated,
            episodes=episodes,
            reset_env_ids=reset_ids,
            active=self.active.copy(),
            stepped=int(was_active.sum()),
        )

    def _episode(self, env_id: int, success: bool, failure: bool) -> EpisodeRecord:
        task = self.task
        return self.book.record(
            env_id,
            success,
            failure,
            self.obj_name,
            bool(task.moved[env_id]),
            task.door_moved(env_id),
            {k: bool(v[env_id]) for k, v in task.subtasks.items()},
        )

    def _observe(self) -> None:
        self.robot.observe(self.obs)
        self.task.observe(self.obs, slice(None))

    def close(self) -> None:
        self.obs.clear()
        self.scene = self.robot = self.task = self.view = self.sim = None
        if self.on_close is not None:
            self.on_close()
            self.on_close = None
