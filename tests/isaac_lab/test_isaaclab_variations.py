"""Variations on sim=isaaclab: the object pose through the shared task state, the object's
mass and friction through Isaac Lab's asset API into the solver; the visual ones refused.

Real Isaac Lab 3.0 on the CPU (kit-less Newton), like the rest of this suite.
"""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import ConfigError, validate
from arena_eval.config import compose as compose_config
from arena_eval.envs.base import EpisodeSource
from arena_eval.envs.mujoco.objects import get_object
from arena_eval.job import run_job


def cfg(*overrides: str):
    return compose_config(["sim=isaaclab", "progress=false", "env=lift_object", *overrides])


def reset_positions(*overrides: str) -> tuple[np.ndarray, list[dict]]:
    job = validate(cfg("num_envs=3", *overrides))
    env = SimApp.get(job).make_env(job)
    try:
        obs = env.reset(EpisodeSource(5, None))
        return obs["object_pos"].copy(), [dict(v) for v in env.book.values]
    finally:
        env.close()


def test_object_pose_moves_the_object_in_the_simulation() -> None:
    """Read back from Isaac Lab's own state after the reset: the plain pose plus the offset."""
    plain, _ = reset_positions()
    moved, values = reset_positions(
        "variations=[object_pose]", "variations.object_pose.x=[-0.04,0.04]",
        "variations.object_pose.y=[-0.04,0.04]",
    )  # fmt: skip
    offsets = np.array([[v["object_pose.x"], v["object_pose.y"]] for v in values])
    assert np.abs(offsets).max() > 0.005  # the draw really moved something
    np.testing.assert_allclose(moved[:, :2] - plain[:, :2], offsets, atol=2e-3)


def test_variations_are_recorded_and_analysed_on_isaaclab(tmp_path) -> None:
    run_job(cfg("policy=scripted", "num_envs=2", "length.n=4", "variations=[object_pose]"),
            tmp_path, show=False)  # fmt: skip
    header = (tmp_path / "episodes.csv").read_text().splitlines()[0]
    assert "var.object_pose.x" in header and "var.object_pose.yaw" in header
    assert (tmp_path / "report.html").is_file()


def test_what_isaaclab_cannot_apply_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="lighting cannot be applied on sim=isaaclab"):
        validate(cfg("variations=[object_mass,lighting]"))


def test_mass_and_friction_reach_the_solver_per_env() -> None:
    """Read back from MuJoCo-Warp's own model after a step: each world has its env's draw."""
    from isaaclab_newton.physics import NewtonManager

    from arena_eval.envs.isaaclab.variations import object_geom

    job = validate(cfg("num_envs=3", "variations=[object_mass,friction]"))
    env = SimApp.get(job).make_env(job)
    try:
        env.reset(EpisodeSource(5, None))
        env.step(np.zeros((3, env.spec.action.shape[0])))
        solver, model = NewtonManager._solver, NewtonManager.get_model()
        asset = env.groups[0].view.free[0][0]
        geom = object_geom(solver, model, asset)
        body = int(solver.mjw_model.geom_bodyid.numpy()[geom])
        mass = np.array([v["object_mass.scale"] for v in env.book.values])
        mu = np.array([v["friction.scale"] for v in env.book.values])
        assert np.ptp(mass) > 0.01 and np.ptp(mu) > 0.01  # three different draws
        base = get_object("cracker_box").mass
        np.testing.assert_allclose(solver.mjw_model.body_mass.numpy()[:, body], base * mass,
                                   rtol=1e-5)  # fmt: skip
        np.testing.assert_allclose(solver.mjw_model.geom_friction.numpy()[:, geom, 0], mu,
                                   rtol=1e-5)  # fmt: skip
        priority = solver.mjw_model.geom_priority.numpy()
        assert priority[geom] > np.delete(priority, geom).max()  # its friction rules contacts
    finally:
        env.close()


@pytest.mark.parametrize(
    "draw", ["variations.object_mass.scale=[40,40]", "variations.friction.scale=[0.02,0.02]"]
)
def test_a_heavy_or_slippery_object_defeats_the_expert(draw, tmp_path) -> None:
    """The plain lift succeeds (test_isaaclab); 40x the mass, or 1/50 of the friction (which,
    taken by every contact of the object, lets it slip from the fingers), defeat it. Without
    the object's contact priority the fingers' friction would rule: 4/4 lifted at 0.02."""
    result = run_job(cfg("policy=scripted", "num_envs=4", "length.n=4", draw), tmp_path,
                     show=False)  # fmt: skip
    assert result.metrics["num_episodes"] == 4
    assert result.metrics["success_rate"] == 0.0, result.metrics
