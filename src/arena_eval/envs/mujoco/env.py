"""The batched MuJoCo env: ``mujoco.batch.Batch`` stepping, per-env resets, episode records.

Envs that share an object share one compiled model and one Batch (a "group"); an object set
becomes one group per object. Env ids are global; each group maps them to its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import batch as mjbatch

from arena_eval.envs.base import (
    EnvSpec,
    EpisodeRecord,
    EpisodeSource,
    StepResult,
    task_space_spec,
)
from arena_eval.envs.episodes import EpisodeBook
from arena_eval.envs.mujoco.embodiments.base import Embodiment, EmbodimentState
from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.mujoco.render import CameraSetup, ModelRenderer
from arena_eval.envs.mujoco.tasks.base import Task, TaskState
from arena_eval.envs.observations import Gather, cached_reads


class Sims:
    """One persistent Batch of simulations of one model, with live views of its state."""

    def __init__(self, model: mujoco.MjModel, nsim: int, nthread: int, control_hz: float) -> None:
        self.model = model
        self.nsim = nsim
        self.control_hz = control_hz
        self.batch = mjbatch.Batch(model, nsim, nthread=nthread, persistent=True)
        self.qpos = self.batch.bind("qpos")
        self.qvel = self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self.xpos = self.batch.bind("xpos")
        self.xquat = self.batch.bind("xquat")
        self.mocap_pos = self.batch.bind("mocap_pos")
        self.sensordata = self.batch.bind("sensordata")


@dataclass
class Group:
    obj: ObjectSpec
    env_ids: np.ndarray  # global env ids of this group's rows, in row order
    sims: Sims
    robot: object  # EmbodimentState
    task: object  # TaskState
    variations: object = None  # GroupVariations, when the job varies its episodes

    def __post_init__(self) -> None:
        # Index of this group's rows in env-wide arrays: a slice when the group is every env in
        # order (one object), so the hot path reads and writes views instead of fancy copies.
        n = len(self.env_ids)
        in_order = bool(n) and self.env_ids[0] == 0 and np.array_equal(self.env_ids, np.arange(n))
        self.index = slice(0, n) if in_order else self.env_ids


class MujocoEnv:
    def __init__(
        self,
        spec: EnvSpec,
        task: Task,
        embodiment: Embodiment,
        models: dict[str, mujoco.MjModel],
        env_objects: list[ObjectSpec],
        physics_hz: float,
        nthread: int = 0,
        rank: int = 0,
        cameras: CameraSetup | None = None,
        variations=None,
    ) -> None:
        self.spec = spec
        self.rank = rank
        self.embodiment = embodiment
        n = spec.num_envs
        self.decimation = max(1, round(physics_hz / spec.control_hz))
        self.groups: list[Group] = []
        for name in dict.fromkeys(o.name for o in env_objects):
            env_ids = np.array([i for i, o in enumerate(env_objects) if o.name == name])
            obj = env_objects[env_ids[0]]
            sims = Sims(models[name], len(env_ids), nthread, spec.control_hz)
            self.groups.append(
                Group(
                    obj,
                    env_ids,
                    sims,
                    embodiment.bind(sims.model, sims),
                    task.bind(sims.model, sims, obj),
                )
            )
        self.book = EpisodeBook(n, spec.max_episode_steps, rank, variations)
        # Per-episode variations: each group's Batch gets per-simulation model fields.
        self.variations = []
        if variations:
            from arena_eval.envs.mujoco.variations import GroupVariations

            names = tuple(cameras.cameras.values()) if cameras is not None else ()
            for g in self.groups:
                g.variations = GroupVariations(variations, g.sims, g.task, task, names)
            self.variations = [g.variations for g in self.groups]
        self.active = self.book.active  # the same array: True while an env's episode counts
        # Cameras: one renderer per group (model), none at all when cameras are off, so the
        # camera-free step is unchanged. A recorder (video.py) receives every rendered frame.
        self.renderers: list[ModelRenderer] = []
        if cameras is not None:
            # Visual variations (light, colours) are read from the model when drawing: each
            # renderer then draws from its own copy, synced to the row it renders.
            private = any(v.visual for v in self.variations)
            self.renderers = [ModelRenderer(g.sims.model, cameras, private) for g in self.groups]
        self.image_keys = tuple(cameras.cameras) if cameras is not None else ()
        # Observations: each step's state observations are fresh arrays, gathered in one pass
        # (observations.py); images are drawn into persistent arrays and handed out as copies.
        self.gather = Gather(
            spec.observations,
            n,
            [(g.index, [*cached_reads(g.robot), *cached_reads(g.task)]) for g in self.groups],
            skip=self.image_keys,
        )
        self.images = {
            k: np.zeros((n, *spec.observations[k].shape), dtype=spec.observations[k].dtype)
            for k in self.image_keys
        }
        # The states that compute observations (a state's ``derive`` left as its base class's
        # writes nothing): only these are called on each step.
        self.derives = [
            (state.derive, g.index)
            for g in self.groups
            for state, base in ((g.robot, EmbodimentState), (g.task, TaskState))
            if type(state).derive is not base.derive
        ]
        self.recorder = None
        self.images_rendered = 0

    # -- episodes ------------------------------------------------------------------------
    def reset(self, episodes: EpisodeSource) -> dict[str, np.ndarray]:
        self.book.begin(episodes)
        self._start(np.arange(self.spec.num_envs))
        obs = self._observe()
        if self.renderers:
            started = np.flatnonzero(self.active)
            self._render(started)
            self._record(started)
        return self._with_images(obs)

    def _start(self, env_ids: np.ndarray) -> np.ndarray:
        """Start the next episode on each env, or retire it when the budget is spent."""
        started_ids = self.book.start(env_ids)
        for group in self.groups:
            rows = np.flatnonzero(np.isin(group.env_ids, started_ids))
            if rows.size:
                self._reset_rows(group, rows)
        return started_ids

    def _reset_rows(self, group: Group, rows: np.ndarray) -> None:
        sims = group.sims
        sims.batch.reset(rows, stage=mujoco.mjtStage.mjSTAGE_NONE)
        qpos, ctrl = sims.qpos[rows], sims.ctrl[rows]
        group.robot.home(qpos, ctrl)
        sims.qpos[rows], sims.ctrl[rows] = qpos, ctrl
        env_ids = group.env_ids[rows]
        group.task.reset(rows, self.book.rngs(env_ids))
        if self.variations:
            values = [self.book.values[i] for i in env_ids]
            group.variations.apply(rows, values, self.book.episode_seed[env_ids])
        sims.batch.forward(rows)
        group.robot.after_reset(rows)
        group.task.after_reset(rows)

    # -- stepping ------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> StepResult:
        n = self.spec.num_envs
        if len(self.groups) == 1 and self.book.num_active == n:  # one object, every env live
            group = self.groups[0]
            group.robot.apply(actions, slice(None))
            group.sims.batch.step(None, nstep=self.decimation, stage=mujoco.mjtStage.mjSTAGE_VEL)
            # Observe first: its reads bring the new state rows into this core's caches, which
            # the physics (on every core) has just filled with its own; the terms then find the
            # object's state there. Nothing the terms update is observed.
            obs = self._observe()
            success, failure = group.task.update()
            return self._finish_step(success, failure, obs)
        success = np.zeros(n, dtype=bool)
        failure = np.zeros(n, dtype=bool)
        for group in self.groups:
            active = self.active[group.index]
            if active.all():
                rows, ids = slice(None), None
                group.robot.apply(actions[group.index], rows)
            else:
                rows = ids = np.flatnonzero(active)
                if not rows.size:
                    continue
                group.robot.apply(actions[group.env_ids[rows]], rows)
            group.sims.batch.step(ids, nstep=self.decimation, stage=mujoco.mjtStage.mjSTAGE_VEL)
            success[group.index], failure[group.index] = group.task.update()
        return self._finish_step(success, failure)

    def _finish_step(
        self, success: np.ndarray, failure: np.ndarray, obs: dict[str, np.ndarray] | None = None
    ) -> StepResult:
        """Count the step, record and restart the episodes that ended, observe (``obs``: the
        step's observations, already taken before any restart)."""
        was_active, success, failure, terminated, truncated, done = self.book.advance(
            success, failure
        )
        episodes = [self._episode(int(i), bool(success[i]), bool(failure[i])) for i in done]
        if self.renderers:  # every stepped env's new frame (a finished episode's last one)
            self._render(np.flatnonzero(was_active))
            self._record(np.flatnonzero(was_active), episodes)
        reset_ids = self._start(done) if done.size else done
        if obs is None or reset_ids.size:
            obs = self._observe()
        if self.renderers and reset_ids.size:  # the first frame of the episodes just started
            self._render(reset_ids)
            self._record(reset_ids)
        if self.image_keys:
            obs = self._with_images(obs)
        return self.book.result(
            obs, success, terminated, truncated, episodes, reset_ids, was_active
        )

    def _episode(self, env_id: int, success: bool, failure: bool) -> EpisodeRecord:
        return self.book.group_record(self.groups, env_id, success, failure)

    def _observe(self) -> dict[str, np.ndarray]:
        """Fresh arrays of the state observations of every env (images come separately)."""
        obs = self.gather()
        for derive, index in self.derives:
            derive(obs, index)
        return obs

    def _with_images(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``obs`` with copies of the current images, every key in the spec's order."""
        images = {k: v.copy() for k, v in self.images.items()}
        return {k: obs[k] if k in obs else images[k] for k in self.spec.observations}

    def task_space(self) -> TaskSpace | None:
        """A task-space view of a joint-space embodiment that carries an IK, else None."""
        ik = getattr(self.embodiment, "task_space", None)
        if self.spec.action_mode != "joint_pos" or ik is None:
            return None
        return TaskSpace(self, task_space_spec(self.spec, ik))

    # -- cameras -------------------------------------------------------------------------
    def _render(self, env_ids: np.ndarray) -> None:
        """Render every camera of ``env_ids`` into their image observations."""
        for k, (group, renderer) in enumerate(zip(self.groups, self.renderers, strict=True)):
            rows = np.flatnonzero(np.isin(group.env_ids, env_ids))
            for row in rows:
                if renderer.private:
                    self.variations[k].sync_render_model(renderer.model, int(row))
                data = group.sims.batch.get_data(int(row))
                renderer.render(data, self.images, int(group.env_ids[row]))
            self.images_rendered += rows.size * len(self.image_keys)

    def _record(self, env_ids: np.ndarray, finished: list[EpisodeRecord] = ()) -> None:
        """Hand the recorder the frames of ``env_ids``, then close the episodes ``finished``."""
        if self.recorder is not None:
            self.recorder.record(
                env_ids, self.book.episode_index, self.images, self.image_keys, finished
            )

    def close(self) -> None:
        for renderer in self.renderers:
            renderer.close()  # GL contexts are native too; freed now, before the Batches
        self.renderers.clear()
        # Batches hold native memory; drop every reference so it is released now, not later.
        self.groups.clear()
        self.images.clear()


class TaskSpace:
    """Drives a joint-space embodiment with task-space actions through its own IK.

    ``spec`` is the env's spec as the matching IK embodiment states it (its action layout and
    groups); calling it turns such actions of every env into the env's joint targets.
    """

    def __init__(self, env: MujocoEnv, spec: EnvSpec) -> None:
        self.env = env
        self.spec = spec

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        out = np.zeros((self.env.spec.num_envs, self.env.spec.action_dim))
        for group in self.env.groups:
            out[group.index] = group.robot.task_space_targets(actions[group.index])
        return out
