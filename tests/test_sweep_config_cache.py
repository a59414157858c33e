"""A sweep's jobs composed from the composition cache equal Hydra's own compositions."""

from __future__ import annotations

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from arena_eval.cli import conf_dir
from arena_eval.config import register_configs
from hydra_plugins.arena_eval_sweeper.sweep_config_cache import CachingConfigLoader

JOBS = [
    ["seed=0", "env=lift_object"],
    ["seed=1", "env=lift_object"],
    ["env=lift_object", "length.n=7", "policy=scripted"],
    ["env=open_microwave", "seed=3", "name=study", "+language_instruction2=hi"],
    ["embodiment=gr1_ik", "embodiment.params.hands=fingers", "num_envs=2"],
    ["embodiment=gr1_ik", "embodiment.params.hands=grip", "num_envs=3", "hydra.verbose=true"],
    ["object_set=[sugar_box,cracker_box]", "seed=5"],
]


@pytest.fixture
def loader():
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def test_cached_compositions_equal_hydras(loader) -> None:
    master = loader.load_configuration("config", ["name=x"], run_mode=RunMode.MULTIRUN)
    caching = CachingConfigLoader.wrapping(loader)
    for overrides in JOBS * 2:  # the second round comes from the cache
        ours = caching.load_sweep_config(master, list(overrides))
        theirs = loader.load_sweep_config(master, list(overrides))
        assert OmegaConf.to_container(ours) == OmegaConf.to_container(theirs), overrides
        assert OmegaConf.is_struct(ours) and ours.hydra.job.override_dirname
    # Jobs that differ only in values share one composition.
    assert len(caching._compositions) < len(JOBS)


def test_a_bad_value_still_fails_like_hydra(loader) -> None:
    from hydra.errors import ConfigCompositionException

    master = loader.load_configuration("config", [], run_mode=RunMode.MULTIRUN)
    caching = CachingConfigLoader.wrapping(loader)
    caching.load_sweep_config(master, ["seed=1"])
    with pytest.raises(ConfigCompositionException):
        caching.load_sweep_config(master, ["no_such_key=1"])
