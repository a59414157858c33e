"""The batched env on Isaac Lab: one ``InteractiveScene`` of ``num_envs`` copies of our scene.

The same task code as on MuJoCo (resets, terms, subtasks, object/door moved) runs on a
:class:`StateView`; the same :class:`EpisodeBook` counts episodes. Every env steps every
control step (Isaac Lab steps the whole world); envs whose episode no longer counts hold
still and report nothing. An object set is one scene with every object of the set in every
env: each env's own object is on the table, the others wait on a parking shelf out of reach,
and the envs of one object form a group with its own view and task state (as MuJoCo's groups).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from arena_eval.envs.base import (
    EnvSpec,
    EpisodeRecord,
    EpisodeSource,
    StepResult,
    task_space_spec,
)
from arena_eval.envs.episodes import EpisodeBook
from arena_eval.envs.isaaclab.cameras import read_rgb
from arena_eval.envs.isaaclab.franka import IsaacFranka
from arena_eval.envs.isaaclab.state import StateView
from arena_eval.variations import apply_object_pose


@dataclass
class Group:
    """The envs of one object: their rows of every env-wide array, a view, the task's state."""

    obj: object  # ObjectSpec
    env_ids: np.ndarray
    view: StateView
    task: object  # TaskState over ``view``
    variations: object = None  # GroupVariations: mass, friction, colours, if any are drawn

    def __post_init__(self) -> None:
        n = len(self.env_ids)
        in_order = bool(n) and np.array_equal(self.env_ids, np.arange(n))
        self.index = slice(0, n) if in_order else self.env_ids


class IsaacLabEnv:
    def __init__(
        self,
        spec: EnvSpec,
        sim,
        scene,
        robot: IsaacFranka,
        groups: list[Group],
        decimation: int,
        rank: int = 0,
        embodiment=None,
        variations=None,
        cameras: dict | None = None,
    ) -> None:
        self.spec = spec
        self.embodiment = embodiment
        self.sim = sim
        self.scene = scene
        self.robot = robot
        self.groups = groups
        self.decimation = decimation
        self.dt = sim.get_physics_dt()
        n = spec.num_envs
        self.book = EpisodeBook(n, spec.max_episode_steps, rank, variations)
        self.active = self.book.active
        self.obs = {k: np.zeros((n, *s.shape), dtype=s.dtype) for k, s in spec.observations.items()}
        self.setup_timing: dict = {}  # the backend's setup figures, then the first step's
        self.on_close = None  # the backend's teardown of this job's simulation context
        # Cameras: observation key -> Isaac Lab camera (none when the job has no cameras, and
        # then nothing below renders). A recorder (video.py) receives every kept frame.
        self.cameras = dict(cameras or {})
        self.image_keys = tuple(self.cameras)
        self.recorder = None
        self.images_rendered = 0
        self.jitter = None
        if self.cameras and variations is not None and "camera_pose" in variations:
            from arena_eval.envs.isaaclab.variations import CameraJitter

            self.jitter = CameraJitter(self.cameras)

    # -- episodes ------------------------------------------------------------------------
    def reset(self, episodes: EpisodeSource) -> dict[str, np.ndarray]:
        self.book.begin(episodes)
        self._start(np.arange(self.spec.num_envs))
        self._observe()
        if self.cameras:
            started = np.flatnonzero(self.active)
            self._render(started)
            self._record(started)
        return {k: v.copy() for k, v in self.obs.items()}

    def _start(self, env_ids: np.ndarray) -> np.ndarray:
        started = self.book.start(env_ids)
        if not started.size:
            return started
        self.robot.reset(started)
        resets = []
        for group in self.groups:
            rows = np.flatnonzero(np.isin(group.env_ids, started))
            if rows.size:
                group.view.pull()
                group.task.reset(rows, self.book.rngs(group.env_ids[rows]))
                if self.book.variations is not None:
                    values = [self.book.values[i] for i in group.env_ids[rows]]
                    if "object_pose" in self.book.variations:
                        apply_object_pose(group.task, rows, values)
                    if group.variations is not None:  # the solver takes them at the next step
                        group.variations.apply(rows, values)
                group.view.push(rows)
                resets.append((group, rows))
        if self.jitter is not None:  # the cameras' poses of the episodes that start
            self.jitter.apply(started, [self.book.values[i] for i in started])
        # Kinematics of the written state, as MuJoCo's forward() gives them.
        self.sim.forward()
        self.scene.update(0.0)
        self.robot.after_reset(started)
        for group, rows in resets:
            group.view.pull()
            group.task.after_reset(rows)
        return started

    # -- stepping ------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> StepResult:
        start = time.perf_counter()
        self.robot.apply(np.asarray(actions, dtype=np.float64))
        for _ in range(self.decimation):
            self.scene.write_data_to_sim()
            self.sim.step(render=False)
            self.scene.update(self.dt)
        n = self.spec.num_envs
        success = np.zeros(n, dtype=bool)
        failure = np.zeros(n, dtype=bool)
        for group in self.groups:
            group.view.pull()
            success[group.index], failure[group.index] = group.task.update()
        if "first_step_s" not in self.setup_timing:
            self.setup_timing["first_step_s"] = time.perf_counter() - start
        was_active, success, failure, terminated, truncated, done = self.book.advance(
            success, failure
        )
        episodes = [self._episode(int(i), bool(success[i]), bool(failure[i])) for i in done]
        if self.cameras:  # every stepped env's new frame (a finished episode's last one)
            stepped = np.flatnonzero(was_active)
            self._render(stepped)
            self._record(stepped, episodes)
        reset_ids = self._start(done) if done.size else done
        self._observe()
        if self.cameras and reset_ids.size:  # the first frame of the episodes just started
            self._render(reset_ids)
            self._record(reset_ids)
        obs = {k: v.copy() for k, v in self.obs.items()}
        return self.book.result(
            obs, success, terminated, truncated, episodes, reset_ids, was_active
        )

    def _episode(self, env_id: int, success: bool, failure: bool) -> EpisodeRecord:
        return self.book.group_record(self.groups, env_id, success, failure)

    def _observe(self) -> None:
        self.robot.observe(self.obs)
        for group in self.groups:
            group.task.observe(self.obs, group.index)

    # -- cameras -------------------------------------------------------------------------
    def _render(self, env_ids: np.ndarray) -> None:
        """The cameras' current frames of ``env_ids`` into their image observations. A camera
        renders every env of the scene at once, when its data is read (lazily)."""
        if not env_ids.size:
            return
        for key, camera in self.cameras.items():
            self.obs[key][env_ids] = read_rgb(camera)[env_ids]
        self.images_rendered += env_ids.size * len(self.cameras)

    def _record(self, env_ids: np.ndarray, finished=()) -> None:
        """Hand the recorder the frames of ``env_ids``, then close the episodes ``finished``."""
        if self.recorder is not None:
            self.recorder.record(
                env_ids, self.book.episode_index, self.obs, self.image_keys, finished
            )

    def task_space(self) -> TaskSpace | None:
        """A task-space view of a joint-space embodiment that carries an IK (the humanoids)."""
        ik = getattr(self.embodiment, "task_space", None)
        if self.spec.action_mode != "joint_pos" or ik is None:
            return None
        if not hasattr(self.robot, "task_space_targets"):
            return None
        return TaskSpace(self, task_space_spec(self.spec, ik))

    def close(self) -> None:
        self.cameras.clear()
        self.obs.clear()
        self.groups.clear()
        self.scene = self.robot = self.sim = None
        if self.on_close is not None:
            self.on_close()
            self.on_close = None


class TaskSpace:
    """Task-space actions of every env -> the env's joint targets, through the robot's IK."""

    def __init__(self, env: IsaacLabEnv, spec: EnvSpec) -> None:
        self.env = env
        self.spec = spec

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        return self.env.robot.task_space_targets(np.asarray(actions, dtype=np.float64))
