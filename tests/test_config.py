"""Config tree: every option of every group composes and validates; bad input is explained."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arena_eval.cli import conf_dir
from arena_eval.config import ConfigError, assign_objects, validate
from tests.conftest import compose_config

GROUPS = ["env", "embodiment", "object", "policy", "length", "sim"]
# env options that are the reference's names for one of ours (a defaults-only config file).
ENV_ALIASES = {"microwave": "open_microwave", "put_item_in_fridge_and_close_door": "fridge"}
# options that only validate with another choice (registered Isaac Lab tasks need its backend)
NEEDS = {"env=isaaclab_task": ["sim=isaaclab"]}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in options(g)], ids=lambda x: str(x)
)
def test_every_option_composes_and_validates(group: str, option: str) -> None:
    extra = NEEDS.get(f"{group}={option}", [])
    job = validate(compose_config([f"{group}={option}", *extra]))
    assert job.num_envs == 8
    if group == "env":
        assert job.task == ENV_ALIASES.get(option, option)
    if group == "object":
        assert set(job.objects) == {option}


@pytest.mark.parametrize(("alias", "env"), sorted(ENV_ALIASES.items()))
def test_env_alias_is_the_same_job(alias: str, env: str) -> None:
    assert validate(compose_config([f"env={alias}"])) == validate(compose_config([f"env={env}"]))


def test_object_set_overrides_object() -> None:
    job = validate(
        compose_config(["object_set=[sugar_box,power_drill,tomato_soup_can]", "num_envs=5"])
    )
    assert job.objects == (
        "sugar_box",
        "power_drill",
        "tomato_soup_can",
        "sugar_box",
        "power_drill",
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("num_envs=0", "num_envs must be a positive integer"),
        ("length.n=0", "length.n must be a positive integer"),
        ("length.kind=forever", "length.kind must be one of steps, episodes"),
        ("sim.backend=bullet", "sim.backend must be one of"),
        (
            "object_set=[cracker_box,nope]",
            "unknown object(s) 'nope'; the catalog has: alphabet_soup_can, bbq_sauce_bottle",
        ),
        (
            "env.name=fridge_xx",
            "unknown env 'fridge_xx'; available: fridge, kitchen_pick_and_place",
        ),
        ("env.physics_hz=10", "env.physics_hz must be >= env.control_hz"),
    ],
)
def test_bad_values_are_explained(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(compose_config([override]))
    assert message in str(err.value)


def test_all_errors_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        validate(compose_config(["num_envs=-1", "length.n=0"]))
    assert "num_envs" in str(err.value) and "length.n" in str(err.value)


def test_steps_and_episodes_are_exclusive() -> None:
    from arena_eval.config import length_from

    assert length_from(num_steps=100) == ("steps", 100)
    assert length_from(num_episodes=5) == ("episodes", 5)
    assert length_from(default=("episodes", 3)) == ("episodes", 3)
    with pytest.raises(ConfigError, match="either num_steps or num_episodes, not both"):
        length_from(num_steps=100, num_episodes=5)
    with pytest.raises(ConfigError, match="no run length"):
        length_from()


@pytest.mark.parametrize(
    ("names", "num_envs"), [(["a", "b", "c"], 7), (["a", "b", "c"], 2), (["a"], 3)]
)
def test_object_set_cycles(names: list[str], num_envs: int) -> None:
    objects = assign_objects(names, num_envs, random=False, seed=0)
    assert objects == tuple(names[i % len(names)] for i in range(num_envs))


def test_object_set_random_is_seeded() -> None:
    names = ["a", "b", "c", "d"]
    first = assign_objects(names, 64, random=True, seed=3)
    assert first == assign_objects(names, 64, random=True, seed=3)
    assert first != assign_objects(names, 64, random=True, seed=4)
    assert set(first) == set(names)  # 64 draws over 4 names: each appears (p of a miss ~ 1e-7)
    assert first != tuple(names[i % 4] for i in range(64))


def test_validation_imports_no_simulator() -> None:
    """Config errors must answer fast: validating imports neither mujoco nor torch."""
    code = (
        "import sys\n"
        "from omegaconf import OmegaConf\n"
        "from arena_eval.config import validate, ConfigError\n"
        "cfg = OmegaConf.create({"
        "'env': {'name': 'lift_object', 'control_hz': 50, 'physics_hz': 500},"
        " 'embodiment': {'name': 'franka_ik'}, 'object': {'name': 'nope'},"
        " 'policy': {'name': 'x'}, 'length': {'kind': 'episodes', 'n': 1},"
        " 'sim': {'backend': 'mujoco'}, 'num_envs': 1, 'seed': 0})\n"
        "try:\n    validate(cfg)\nexcept ConfigError as e:\n    print('ERR', e)\n"
        "print('mujoco' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "unknown object(s) 'nope'" in out.stdout
    assert out.stdout.strip().endswith("False False")


def test_isaaclab_task_needs_the_isaaclab_backend() -> None:
    with pytest.raises(ConfigError, match="add sim=isaaclab"):
        validate(compose_config(["env=isaaclab_task"]))
    job = validate(
        compose_config(["env=isaaclab_task", "sim=isaaclab", "env.task=Isaac-Ant-Direct"])
    )
    assert job.task_params == {"id": "Isaac-Ant-Direct"}
