"""Observations gathered in one pass (observations.py) equal the per-key reads, on every task
and embodiment, and every step hands out fresh arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.envs.base import ArraySpec, EpisodeSource
from arena_eval.envs.observations import Gather, Read, observe


def test_a_read_selects_like_indexing() -> None:
    state = np.arange(4 * 10, dtype=float).reshape(4, 10)
    qpos, qvel = state[:, 1:6], state[:, 6:10]  # views of one buffer, as a Batch's are
    xpos = np.arange(4 * 5 * 3, dtype=float).reshape(4, 5, 3)
    assert np.array_equal(Read("a", qpos, [4, 0]).values(), qpos[:, [4, 0]])
    assert np.array_equal(Read("b", qvel, slice(1, 3)).values(), qvel[:, 1:3])
    assert np.array_equal(Read("c", xpos, 2).values(), xpos[:, 2])
    assert np.array_equal(Read("d", xpos, (slice(None), 0)).values(), xpos[:, :, 0])
    state += 1.0  # live: a read sees the array as it is now
    assert np.array_equal(Read("a", qpos, 2).values(), qpos[:, [2]])


@st.composite
def layouts(draw):
    """A state buffer and an output array with random reads from each, over random groups."""
    n = draw(st.integers(1, 6))
    width = draw(st.integers(4, 12))
    nbody = draw(st.integers(1, 4))
    # Envs split into groups in any order (an object set), each with its own arrays.
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, n - 1)), max_size=2, unique=True)))
    parts = [np.array(p) for p in np.split(np.array(order), cuts) if len(p)]
    picks = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["qpos", "qvel", "xpos", "const"]),
                st.lists(st.integers(0, 2), min_size=1, max_size=3),
            ),
            min_size=1,
            max_size=5,
        )
    )
    return n, width, nbody, parts, picks


@settings(max_examples=60, deadline=None)
@given(layouts(), st.booleans())
def test_gather_equals_the_per_key_writes(layout, in_order: bool) -> None:
    n, width, nbody, parts, picks = layout
    if in_order:
        parts = [np.arange(n)]
    rng = np.random.default_rng(0)
    groups = []
    for ids in parts:
        m = len(ids)
        state = rng.normal(size=(m, 2 * width))
        sources = {
            "qpos": state[:, 1:width],
            "qvel": state[:, width:],
            "xpos": rng.normal(size=(m, nbody, 3)),
            "const": np.tile(rng.normal(size=3), (m, 1)),
        }
        reads = []
        for i, (name, cols) in enumerate(picks):
            src = sources[name]
            index = (min(nbody - 1, cols[0]), cols[-1]) if name == "xpos" else cols
            reads.append(Read(f"k{i}", src, index))
        index = slice(0, n) if in_order else ids
        groups.append((index, reads))
    spec = {r.key: ArraySpec((len(r.cols),)) for r in groups[0][1]}
    spec["derived"] = ArraySpec((2,))
    gather = Gather(spec, n, groups)
    assert gather.derived == ["derived"]
    obs = gather()
    expected = {k: np.full((n, *s.shape), np.nan, dtype=s.dtype) for k, s in spec.items()}
    for index, reads in groups:
        observe(reads, expected, index)
    for key in spec:
        if key != "derived":
            assert obs[key].dtype == np.float32 and obs[key].flags.c_contiguous
            np.testing.assert_array_equal(obs[key], expected[key])
    again = gather()
    assert not any(np.shares_memory(obs[k], again[k]) for k in spec)  # fresh every call


CASES = [
    ("lift_object", "franka_joint_pos", ()),
    ("lift_object", "franka_ik", ("object_set=[cracker_box,mustard_bottle]",)),
    ("open_microwave", "gr1_ik", ()),
    ("fridge", "g1_joint", ()),
    ("press_button", "franka_ik", ()),
    ("kitchen_pick_and_place", "gr1_joint", ()),
]


@pytest.mark.parametrize(("env_name", "embodiment", "extra"), CASES)
def test_env_observations_equal_direct_reads(make_cfg, env_name, embodiment, extra) -> None:
    """Every key a step hands out equals what the states' own ``observe`` writes (the path
    Isaac Lab takes), none is left unwritten, and a later step does not change it."""
    job = validate(make_cfg(f"env={env_name}", f"embodiment={embodiment}", "num_envs=3", *extra))
    env = SimApp.get(job).make_env(job)
    try:
        obs = env.reset(EpisodeSource(job.seed, None))
        rng = np.random.default_rng(1)
        low, high = np.asarray(env.spec.action_low), np.asarray(env.spec.action_high)
        kept = None
        for step in range(12):
            actions = rng.uniform(low, high, size=(3, env.spec.action_dim))
            obs = env.step(actions).obs
            expected = {
                k: np.full((3, *s.shape), np.nan, dtype=s.dtype)
                for k, s in env.spec.observations.items()
            }
            for group in env.groups:
                group.robot.observe(expected, group.index)
                group.task.observe(expected, group.index)
            assert list(obs) == list(env.spec.observations)
            for key, value in obs.items():
                assert value.shape == expected[key].shape and value.dtype == expected[key].dtype
                np.testing.assert_array_equal(value, expected[key], err_msg=key)
                assert not np.isnan(expected[key]).any(), key
            if step == 3:
                kept = {k: (v, v.copy()) for k, v in obs.items()}
        for key, (value, copy) in kept.items():
            np.testing.assert_array_equal(value, copy, err_msg=f"{key} changed after its step")
    finally:
        env.close()


def test_gather_with_a_fallback_read_and_derived_keys() -> None:
    """A source no buffer holds (a Fortran-ordered array) is read on its own after the takes;
    derived keys have their place in the fresh block; every key is still fresh per call."""
    rng = np.random.default_rng(3)
    state = rng.normal(size=(4, 10))
    odd = np.asfortranarray(rng.normal(size=(4, 3)))
    reads = [Read("a", state[:, 2:8], [0, 5]), Read("b", odd, [2, 1])]
    spec = {"a": ArraySpec((2,)), "d": ArraySpec((3,)), "b": ArraySpec((2,))}
    gather = Gather(spec, 4, [(slice(0, 4), reads)])
    assert [r.key for _, r in gather.fallback] == ["b"]
    obs = gather()
    assert list(obs) == ["a", "d", "b"] and obs["d"].shape == (4, 3)
    np.testing.assert_array_equal(obs["a"], state[:, [2, 7]].astype(np.float32))
    np.testing.assert_array_equal(obs["b"], odd[:, [2, 1]].astype(np.float32))
    obs["d"][:] = 1.0  # a state's derive writes the whole key
    again = gather()
    assert not any(np.shares_memory(obs[k], again[k]) for k in spec)
    # Without the fallback, the gather hands out the same values.
    plain = Gather({"a": spec["a"], "d": spec["d"]}, 4, [(slice(0, 4), reads[:1])])
    np.testing.assert_array_equal(plain()["a"], obs["a"])


def test_constant_reads_are_read_once() -> None:
    """A read declared constant is taken when the gather is built and kept in its block; the
    other reads follow their arrays on every call."""
    state = np.arange(12.0).reshape(3, 4)
    table = np.tile([0.1, 0.2], (3, 1))
    reads = [Read("s", state, [1, 3]), Read("t", table, constant=True)]
    spec = {"s": ArraySpec((2,)), "t": ArraySpec((2,))}
    gather = Gather(spec, 3, [(slice(0, 3), reads)])
    assert len(gather.takes) == 1  # only the state is taken per call
    state += 1.0
    table[:] = 9.0  # (a constant table does not change; if it did, the gather would not see it)
    obs = gather()
    np.testing.assert_array_equal(obs["s"], state[:, [1, 3]].astype(np.float32))
    np.testing.assert_array_equal(obs["t"], np.tile(np.float32([0.1, 0.2]), (3, 1)))
