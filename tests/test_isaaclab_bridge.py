"""The Isaac Lab bridge's pure-MuJoCo parts, checked in the main venv (MuJoCo 4).

Isaac Lab's venv compiles scenes with MuJoCo 3.12, whose ``dampratio`` turns into a different
``kv`` than MuJoCo 4's; ``drives.servo_gains`` must give the gains this backend runs with, or
the two backends' servos differ (see envs/isaaclab/drives.py)."""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.config import compose, validate
from arena_eval.envs.isaaclab.drives import servo_gains
from arena_eval.envs.isaaclab.usd import exclude_masked_pairs
from arena_eval.envs.mujoco.backend import make_task
from arena_eval.envs.mujoco.embodiments import make_embodiment
from arena_eval.envs.mujoco.objects import get_object
from arena_eval.envs.mujoco.scene import compose_spec


def _scene(embodiment: str):
    job = validate(compose(["env=open_microwave", f"embodiment={embodiment}"]))
    task = make_task(job)
    robot = make_embodiment(job.embodiment, job.embodiment_params)
    return compose_spec(task, robot, get_object(job.objects[0]), job.physics_hz)


@pytest.mark.parametrize("embodiment", ["franka_ik", "gr1_ik", "g1_ik"])
def test_servo_gains_are_the_ones_mujoco_compiles(embodiment):
    spec = _scene(embodiment)
    model = spec.compile()
    kp, kv = servo_gains(spec, model)
    np.testing.assert_allclose(kp, model.actuator_gainprm[:, 0], rtol=1e-12)
    np.testing.assert_allclose(kv, -model.actuator_biasprm[:, 2], rtol=1e-9, atol=1e-12)


def test_robot_geoms_that_never_touch_in_mujoco_are_excluded_for_usd():
    """GR1's geoms (contype 2, conaffinity 0) never touch each other on MuJoCo; Newton reads no
    masks, so each such body pair becomes an exclude (USD physics:filteredPairs)."""
    spec = _scene("gr1_ik")
    model = spec.compile()
    added = exclude_masked_pairs(spec)
    pairs = {frozenset((e.bodyname1, e.bodyname2)) for e in spec.excludes}
    assert added > 100
    assert frozenset(("robot_r_hand_yaw", "robot_right_gripper_r_palm")) in pairs
    # Nothing that may touch on MuJoCo is excluded: the robot still touches the world's objects.
    assert not any("object" in pair or "microwave_door" in pair for pair in pairs)
    for pair in pairs:
        a, b = (model.body(name).id for name in pair)
        ga = np.flatnonzero(model.geom_bodyid == a)
        gb = np.flatnonzero(model.geom_bodyid == b)
        for i in ga:
            for j in gb:
                assert not (model.geom_contype[i] & model.geom_conaffinity[j])
                assert not (model.geom_contype[j] & model.geom_conaffinity[i])
