"""The MuJoCo backend: builds env specs and envs from a JobSpec, caching compiled models."""

from __future__ import annotations

import time
from typing import Any

from arena_eval.config import JobSpec, build_config
from arena_eval.envs.base import ArraySpec, EnvSpec
from arena_eval.envs.mujoco.embodiments import make_embodiment
from arena_eval.envs.mujoco.objects import get_object
from arena_eval.envs.mujoco.tasks import task_class


def make_task(job: JobSpec):
    cls = task_class(job.task)
    return cls(build_config(cls, job.task_params, f"env {job.task!r} (env.task)"))


def make_job_embodiment(job: JobSpec, task):
    """The job's embodiment, placed for the task (clear of its fixtures); both backends."""
    embodiment = make_embodiment(job.embodiment, job.embodiment_params)
    objects = [get_object(name) for name in dict.fromkeys(job.objects)]
    embodiment.clear_fixtures(task.fixtures_top(objects))
    return embodiment


def build_spec(job: JobSpec, task=None, embodiment=None) -> EnvSpec:
    """The EnvSpec of a job, without compiling anything (servers use this too)."""
    task = task or make_task(job)
    embodiment = embodiment or make_job_embodiment(job, task)
    layout = embodiment.layout
    observations = {**embodiment.observations(), **task.observations()}
    cams = job.cameras
    for key in camera_keys(job, embodiment):
        observations[key] = ArraySpec((cams.height, cams.width, 3), "uint8")
    return EnvSpec(
        task=job.task,
        embodiment=job.embodiment,
        num_envs=job.num_envs,
        observations=observations,
        action=ArraySpec((layout.dim,)),
        action_names=layout.names,
        action_low=layout.low,
        action_high=layout.high,
        action_mode=layout.mode,
        control_hz=job.control_hz,
        max_episode_steps=task.episode_steps(job.control_hz),
        objects=tuple(dict.fromkeys(job.objects)),
        task_info=task.info(),
        embodiment_info=embodiment.info(),
    )


def job_variations(job: JobSpec):
    """The job's enabled variations (validated again: a JobSpec may be built by hand)."""
    if not job.variations:
        return None
    from arena_eval.variations import Variations

    return Variations(job.variations)


def camera_keys(job: JobSpec, embodiment) -> dict[str, str]:
    """Image observation key -> MJCF camera of a job; empty when cameras are off."""
    if not job.enable_cameras:
        return {}
    from arena_eval.envs.mujoco.render import camera_layout

    return camera_layout(job.cameras.names, embodiment.cameras())


class MujocoBackend:
    name = "mujoco"

    def __init__(self, nthread: int = 0) -> None:
        self.nthread = nthread
        self._models: dict[tuple, Any] = {}
        self.stats = {
            "models_compiled": 0,
            "models_loaded": 0,  # from the compiled-model cache on disk
            "model_cache_hits": 0,  # already in this process
            "compile_s": 0.0,
            "load_s": 0.0,
        }

    def _model(self, job: JobSpec, task, embodiment, obj_name: str, variations=None):
        from arena_eval.envs.mujoco import model_cache
        from arena_eval.envs.mujoco.scene import compose
        from arena_eval.envs.mujoco.variations import build_scene, scene_key

        key = (
            job.task,
            repr(sorted(job.task_params.items())),
            job.embodiment,
            repr(sorted(job.embodiment_params.items())),
            obj_name,
            job.physics_hz,
            scene_key(variations),
        )
        model = self._models.get(key)
        if model is not None:
            self.stats["model_cache_hits"] += 1
            return model
        start = time.perf_counter()
        if model_cache.enabled():
            model = model_cache.load(key)
        if model is not None:
            self.stats["models_loaded"] += 1
            self.stats["load_s"] += time.perf_counter() - start
        else:
            extras = (lambda world: build_scene(world, task, variations)) if variations else None
            model = compose(task, embodiment, get_object(obj_name), job.physics_hz, extras)
            self.stats["compile_s"] += time.perf_counter() - start
            self.stats["models_compiled"] += 1
            if model_cache.enabled():
                model_cache.save(key, model)
        self._models[key] = model
        return model

    def make_env(self, job: JobSpec, rank: int = 0):
        from arena_eval.envs.mujoco.env import MujocoEnv

        task = make_task(job)
        embodiment = make_job_embodiment(job, task)
        spec = build_spec(job, task, embodiment)
        variations = job_variations(job)
        models = {
            o: self._model(job, task, embodiment, o, variations) for o in dict.fromkeys(job.objects)
        }
        env_objects = [get_object(o) for o in job.objects]
        cameras = None
        if job.enable_cameras:
            from arena_eval.envs.mujoco.render import CameraSetup

            c = job.cameras
            cameras = CameraSetup(camera_keys(job, embodiment), c.width, c.height, c.quality)
        return MujocoEnv(
            spec,
            task,
            embodiment,
            models,
            env_objects,
            job.physics_hz,
            self.nthread,
            rank,
            cameras=cameras,
            variations=variations,
        )

    def close(self) -> None:
        self._models.clear()
