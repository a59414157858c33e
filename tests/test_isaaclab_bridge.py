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


def test_the_bin_contact_sensor_maps_to_the_object_against_the_bins_shapes():
    """kitchen_pick_and_place's success sensor becomes an Isaac Lab ContactSensor of the
    object against the bin's geoms, which the bridge welds to the world under these names."""
    import mujoco

    from arena_eval.envs.isaaclab.state import contact_specs

    job = validate(compose(["env=kitchen_pick_and_place"]))
    task = make_task(job)
    robot = make_embodiment(job.embodiment, job.embodiment_params)
    spec = compose_spec(task, robot, get_object(job.objects[0]), job.physics_hz)
    model = spec.compile()
    (contact,) = contact_specs(model)
    assert contact.name == "object_on_bin" and contact.body == "object"
    assert contact.adr == int(model.sensor("object_on_bin").adr[0])
    walls = ("floor", "front", "back", "left", "right")
    assert contact.shapes == tuple(f"bin_bin_{w}" for w in walls)
    # A kind the view cannot measure refuses instead of reading zeros.
    sensor = spec.add_sensor(
        name="table_on_bin", type=mujoco.mjtSensor.mjSENS_CONTACT,
        objtype=mujoco.mjtObj.mjOBJ_BODY, objname="table",
        reftype=mujoco.mjtObj.mjOBJ_BODY, refname="bin",
    )  # fmt: skip
    sensor.intprm[0], sensor.intprm[1], sensor.intprm[2] = 3, 3, 1
    with pytest.raises(ValueError, match="table_on_bin"):
        contact_specs(spec.compile())


def test_a_massless_body_with_colliders_stays_massless_for_usd():
    """G1's palms are ``<inertial mass="0">`` with a collision mesh: massless on MuJoCo. USD
    reads a mass of 0 as "compute it from the colliders" (97 g a palm on Newton), so the
    bridge states a negligible mass instead; bodies with a mass keep theirs."""
    from arena_eval.envs.isaaclab.usd import MASSLESS_KG, keep_massless_bodies_massless

    spec = _scene("g1_ik")
    before = spec.compile()
    palms = [f"robot_{side}_gripper_{side}_hand" for side in ("left", "right")]
    assert all(before.body(name).mass[0] == 0 for name in palms)
    assert keep_massless_bodies_massless(spec) == 2
    after = spec.compile()
    for name in palms:
        assert after.body(name).mass[0] == pytest.approx(MASSLESS_KG)
    heavy = before.body_mass > 0
    np.testing.assert_array_equal(after.body_mass[heavy], before.body_mass[heavy])
