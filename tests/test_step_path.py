"""The step's fast paths give, to the bit, what the general ones give: the joint_pos controls,
the moved test, the step's flags and the actions' conversion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arena_eval.app import SimApp
from arena_eval.config import compose, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.envs.mujoco.embodiments import ik
from arena_eval.envs.mujoco.tasks.base import OBJECT_MOVED_DISTANCE, OBJECT_MOVED_SPEED
from arena_eval.policies.base import PolicyError, as_actions

N = 4


@pytest.fixture(scope="module")
def lift_env():
    job = validate(
        compose(
            ["progress=false", f"num_envs={N}", "env=lift_object", "embodiment=franka_joint_pos"]
        )
    )
    env = SimApp.get(job).make_env(job)
    env.reset(EpisodeSource(job.seed, None))
    yield env
    env.close()


# Actions anywhere: inside and far outside the bounds, signed zeros, the bounds themselves.
ACTIONS = arrays(
    np.float64,
    (N, 8),
    elements=st.one_of(
        st.floats(-5, 5, allow_nan=False),
        st.sampled_from([0.0, -0.0, -1.0, 1.0, -2.8973, 2.8973, -0.0175, 3.7525]),
    ),
)


@settings(max_examples=80, deadline=None)
@given(ACTIONS)
def test_joint_pos_controls_equal_the_general_path(lift_env, actions: np.ndarray) -> None:
    """The one-run path (take, clamp, shift by -0.0 or +1, scale, copy) writes the same bytes
    into the controls as the general path."""
    robot, ctrl = lift_env.groups[0].robot, lift_env.groups[0].sims.ctrl
    assert robot.run  # the Panda's controls are one run of columns
    written = []
    for run in (True, False):
        robot.run = run
        try:
            ctrl[:] = np.nan
            robot.apply(actions, slice(None))
            written.append(ctrl.copy())
        finally:
            robot.run = True
    assert written[0].tobytes() == written[1].tobytes()
    # The signed zeros of the arm's actions reach the controls as they were.
    arm = actions[:, :7].copy()
    np.clip(arm, robot.q_low, robot.q_high, out=arm)
    assert np.signbit(written[0][:, :7]).tolist() == np.signbit(arm).tolist()


def test_moved_follows_its_thresholds(lift_env) -> None:
    """``moved`` is the reference's object_moved: over 5 cm from the start or faster than
    0.5 m/s at any step of the episode, and a new episode starts unmoved."""
    group = lift_env.groups[0]
    task, sims = group.task, group.sims
    q, v = task.obj_q, task.obj_v
    rows = np.arange(N)
    task.after_reset(rows)
    start = task.start_pos.copy()
    sims.qvel[:, v : v + 3] = 0.0
    step = np.array([0.049, 0.051, 0.0, 0.0])  # along x; env 2 and 3 move by speed instead
    sims.qpos[:, q] = start[:, 0] + step
    sims.qvel[2, v + 1] = OBJECT_MOVED_SPEED * 1.01
    sims.qvel[3, v + 2] = -OBJECT_MOVED_SPEED * 0.99
    task.update()
    assert task.moved.tolist() == [False, True, True, False]
    # Back at the start and still: the peaks stay (at any step so far).
    sims.qpos[:, q : q + 3] = start
    sims.qvel[:, v : v + 3] = 0.0
    task.update()
    assert task.moved.tolist() == [False, True, True, False]
    # A diagonal displacement counts by its length, not by a component.
    diagonal = OBJECT_MOVED_DISTANCE * 1.02 / np.sqrt(3)
    sims.qpos[0, q : q + 3] = start[0] + diagonal
    task.update()
    assert task.moved.tolist() == [True, True, True, False]
    task.after_reset(np.array([1, 2]))
    assert task.moved.tolist() == [True, False, False, False]
    sims.qpos[:, q : q + 3] = start


def test_nothing_ended_flags_are_shared_and_read_only(lift_env) -> None:
    """A step where no episode ends hands out one read-only array of False for all four flags,
    the zero reward and a read-only snapshot of the active flags; writing to them is an error,
    not a change to later steps."""
    book = lift_env.book
    out = book.advance(np.zeros(N, bool), np.zeros(N, bool))
    was_active, success, failure, terminated, truncated, done = out
    assert success is failure is terminated is truncated
    assert not success.any() and done.size == 0
    with pytest.raises(ValueError, match="read-only"):
        terminated[0] = True
    result = book.result({}, success, terminated, truncated, [], done, was_active)
    with pytest.raises(ValueError, match="read-only"):
        result.reward[0] = 1.0
    assert result.active is was_active and result.stepped == N
    assert not np.shares_memory(result.active, book.active)
    with pytest.raises(ValueError, match="read-only"):
        result.active[0] = False  # the flags are the step's, not the book's


class _Spec:
    num_envs, action_dim, embodiment, action_mode = 2, 3, "franka_joint_pos", "joint_pos"


@pytest.mark.parametrize(
    "given_actions",
    [
        np.ones((2, 3), dtype=np.float32) / 3,
        np.ones((2, 3)) / 3,
        [[1 / 3] * 3] * 2,
        np.ones((2, 3), dtype=np.float16) / 3,
    ],
)
def test_as_actions_converts_any_array_like(given_actions) -> None:
    got = as_actions(given_actions, _Spec)
    assert got.dtype == np.float64 and got.shape == (2, 3)
    np.testing.assert_array_equal(got, np.asarray(given_actions, dtype=np.float64))
    if isinstance(given_actions, np.ndarray) and given_actions.dtype == np.float64:
        assert got is given_actions  # no copy where none is needed


def test_as_actions_takes_torch_tensors_and_refuses_bad_shapes() -> None:
    torch = pytest.importorskip("torch")
    got = as_actions(torch.ones(2, 3, requires_grad=True) * 0.5, _Spec)
    assert got.dtype == np.float64 and np.all(got == 0.5)
    with pytest.raises(PolicyError, match=r"shape \(2, 4\).*expects \(2, 3\)"):
        as_actions(np.zeros((2, 4), dtype=np.float32), _Spec)


@pytest.mark.parametrize(
    ("env_name", "embodiment"), [("lift_object", "franka_ik"), ("fridge", "gr1_ik")]
)
def test_point_jacobian_equals_mujoco(make_cfg, env_name: str, embodiment: str) -> None:
    """The IK's Jacobian from bound fields equals ``Batch.jac``'s columns to the bit, after
    resets and along a run of random actions, for the whole batch and for a subset; a dof
    outside a hand's chain (the other arm) is an exact zero column, as MuJoCo's is; and the
    memory layout is the one the gathered columns had (dls()'s products round by it)."""
    job = validate(make_cfg(f"env={env_name}", f"embodiment={embodiment}", "num_envs=3"))
    env = SimApp.get(job).make_env(job)
    try:
        robot, sims = env.groups[0].robot, env.groups[0].sims
        assert isinstance(robot.jacobian, ik.PointJacobian | dict)
        if isinstance(robot.jacobian, dict):
            pairs = [(robot.jacobian[s], robot.grasp_body[s]) for s in robot.jacobian]
        else:
            pairs = [(robot.jacobian, robot.ee_body)]
        env.reset(EpisodeSource(job.seed, None))
        rng = np.random.default_rng(0)
        low, high = np.asarray(env.spec.action_low), np.asarray(env.spec.action_high)
        outside_seen = False
        for _ in range(40):
            for jacobian, body in pairs:
                for ids in (slice(None), np.array([0, 2])):
                    point = sims.xpos[ids, body]
                    got = jacobian(point, ids)
                    # Batch.jac's columns, as the Isaac Lab backend's mirror still gathers them.
                    want = ik.GatheredJacobian(sims.batch, body, jacobian.dofs)(point, ids)
                    assert got.tobytes() == want.tobytes() and got.strides == want.strides
                    outside_seen |= bool(jacobian.outside.any())
                    assert not got[:, :, jacobian.outside].any()
            env.step(rng.uniform(low, high, size=(3, env.spec.action_dim)))
        assert outside_seen == (embodiment == "gr1_ik")
    finally:
        env.close()
