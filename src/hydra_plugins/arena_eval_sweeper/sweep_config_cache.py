"""Compose each distinct set of group choices of a sweep once.

Hydra composes every job of a multirun from scratch: the defaults tree, every group's file,
the merges (~100 ms of Python per job here, most of a short job's overhead). But jobs that
differ only in values (``seed=0,1,2``, ``length.n=...``) have the same defaults tree: Hydra
itself applies such overrides after composing (its ``config_overrides``). So the first job of
each distinct set of group choices is composed by Hydra, and the others are a copy of it with
their value overrides applied by Hydra's own function, and with the few fields Hydra derives
from the override list (``hydra.overrides.task``, ``hydra.job.override_dirname``) rebuilt the
way Hydra builds them. A test checks that the configs equal Hydra's own.
"""

from __future__ import annotations

import copy

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict


class CachingConfigLoader(ConfigLoaderImpl):
    """Hydra's config loader whose ``load_sweep_config`` reuses compositions."""

    @classmethod
    def wrapping(cls, loader: ConfigLoaderImpl) -> CachingConfigLoader:
        """A caching loader with ``loader``'s search path and repository (no second scan)."""
        caching = cls.__new__(cls)
        caching.__dict__.update(loader.__dict__)
        caching._compositions = {}
        return caching

    def __getstate__(self) -> dict:  # submitit pickles the loader: not its cache
        return {k: v for k, v in self.__dict__.items() if k != "_compositions"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._compositions = {}

    def _is_value(self, override: Override) -> bool:
        """A plain ``key=value`` on a config key (not a group, not +/~, not hydra's own)."""
        return (
            override.type == OverrideType.CHANGE
            and not override.is_hydra_override()
            and override.package is None
            and not self.repository.group_exists(override.key_or_group)
        )

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        parsed = OverridesParser.create().parse_overrides(list(sweep_overrides))
        values = [o for o in parsed if self._is_value(o)]
        structure = tuple(o.input_line for o in parsed if not self._is_value(o))
        base = self._compositions.get(structure)
        if base is None:
            base = self._compositions[structure] = super().load_sweep_config(
                master_config, list(structure)
            )
        if not values:
            return copy.deepcopy(base)
        cfg = copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        # What Hydra derives from the job's overrides, in the order they were given.
        app = [o for o in parsed if not o.is_hydra_override()]
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in app]
            names = cfg.hydra.job.config.override_dirname
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app,
                kv_sep=names.kv_sep,
                item_sep=names.item_sep,
                exclude_keys=list(names.exclude_keys),
            )
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg
