"""Every declared env x embodiment x object can be built, reset and stepped with sane values.

Adding a task, embodiment or object adds no test code: this walks the whole catalog.
"""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.envs.mujoco.embodiments import EMBODIMENTS
from arena_eval.envs.mujoco.objects import OBJECTS
from arena_eval.envs.mujoco.tasks import TASKS

# Every task with every object (on one embodiment) and with every embodiment (on one object):
# the pairs that interact, without the full product growing with each addition.
CASES = sorted(
    {(t, "franka_ik", o) for t in TASKS for o in OBJECTS}
    | {(t, e, "cracker_box") for t in TASKS for e in EMBODIMENTS}
)


@pytest.mark.parametrize(("task", "embodiment", "obj"), CASES, ids=lambda x: x)
def test_env_builds_resets_and_steps(make_cfg, task: str, embodiment: str, obj: str) -> None:
    job = validate(
        make_cfg(f"env={task}", f"embodiment={embodiment}", f"object={obj}", "num_envs=2")
    )
    env = SimApp.get(job).make_env(job)
    try:
        spec = env.spec
        obs = env.reset(EpisodeSource(0, None))
        assert set(obs) == set(spec.observations)
        for key, array_spec in spec.observations.items():
            assert obs[key].shape == (2, *array_spec.shape), key
            assert obs[key].dtype == np.dtype(array_spec.dtype), key
        assert len(spec.action_names) == spec.action_dim
        rng = np.random.default_rng(0)
        low, high = np.array(spec.action_low), np.array(spec.action_high)
        for _ in range(10):
            result = env.step(rng.uniform(low, high, size=(2, spec.action_dim)))
            for key, value in result.obs.items():
                assert np.isfinite(value).all(), key
        assert result.stepped == 2
    finally:
        env.close()


def test_models_are_compiled_once_per_process(make_cfg) -> None:
    job = validate(make_cfg("env=lift_object", "object=sugar_box"))
    app = SimApp.get(job)
    app.make_env(job).close()
    compiled = app.stats["models_compiled"]
    app.make_env(job).close()
    assert app.stats["models_compiled"] == compiled
    assert SimApp.get(job) is app
