"""Rotation helpers: round trips and agreement with MuJoCo's own conversions."""

from __future__ import annotations

import mujoco
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arena_eval.geometry import (
    quat_from_mat,
    quat_from_rotvec,
    quat_mul,
    quat_to_mat,
    rotation_error,
    rotvec_from_quat,
)

finite = st.floats(-3.0, 3.0, allow_nan=False)
rotvecs = arrays(np.float64, (3,), elements=finite)


@given(rotvecs)
def test_rotvec_round_trip(v: np.ndarray) -> None:
    angle = np.linalg.norm(v)
    back = rotvec_from_quat(quat_from_rotvec(v))
    if angle < np.pi - 1e-6:
        np.testing.assert_allclose(back, v, atol=1e-9)


@given(rotvecs)
def test_matrix_matches_mujoco(v: np.ndarray) -> None:
    q = quat_from_rotvec(v)
    expected = np.zeros(9)
    mujoco.mju_quat2Mat(expected, q)
    np.testing.assert_allclose(quat_to_mat(q), expected.reshape(3, 3), atol=1e-12)
    q2 = quat_from_mat(quat_to_mat(q))
    assert min(np.abs(q2 - q).max(), np.abs(q2 + q).max()) < 1e-9


@given(rotvecs, rotvecs)
def test_rotation_error_composes(a: np.ndarray, b: np.ndarray) -> None:
    qa, qb = quat_from_rotvec(a), quat_from_rotvec(b)
    err = rotation_error(qb, qa)
    composed = quat_mul(quat_from_rotvec(err), qa)
    assert min(np.abs(composed - qb).max(), np.abs(composed + qb).max()) < 1e-9
