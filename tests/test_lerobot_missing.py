"""Without lerobot (the main 3.11 venv), record_dataset=true and policy=lerobot refuse at once,
naming the venv that has it. The real thing is tested in tests/lerobot (make test-lerobot)."""

from __future__ import annotations

import importlib.util

import pytest

from arena_eval.config import ConfigError, validate
from arena_eval.policies.base import PolicyError, make_policy

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lerobot") is not None, reason="lerobot is installed here"
)


def test_record_dataset_refuses_without_lerobot(make_cfg) -> None:
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("record_dataset=true"))
    assert "record_dataset=true needs lerobot" in str(err.value)
    assert "make setup-lerobot" in str(err.value) and ".venv-lerobot" in str(err.value)


def test_dataset_settings_are_checked(make_cfg) -> None:
    with pytest.raises(ConfigError, match="record_dataset=true writes one dataset"):
        validate(make_cfg("record_dataset=true", "distributed=true"))


def test_policy_lerobot_refuses_without_lerobot(make_cfg) -> None:
    from arena_eval.envs.base import ArraySpec, EnvSpec

    job = validate(make_cfg("policy=lerobot_act_lift_object"))
    spec = EnvSpec("lift_object", "franka_ik", 1, {"x": ArraySpec((1,))}, ArraySpec((7,)),
                   tuple("abcdefg"), (-1,) * 7, (1,) * 7, "ee_delta", 50.0, 300)  # fmt: skip
    with pytest.raises(PolicyError, match=r"policy=lerobot needs lerobot.*make setup-lerobot"):
        make_policy(job.policy, spec)
