"""The policy protocol and the policy registry.

A policy sees an :class:`~arena_eval.envs.base.EnvSpec` at construction and batched
observation dicts (numpy arrays, first dimension = env) at every step. It never imports a
simulator backend. Policies register themselves by name; configs may also name a class by
dotted path (``policy.name=my_pkg.MyPolicy`` or ``_target_``).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from arena_eval.config import ConfigError, build_config
from arena_eval.envs.base import EnvSpec


class Policy:
    """Base class for policies. Subclasses implement :meth:`get_action`.

    ``Config`` is a dataclass of the policy's settings; the config's keys (other than
    ``name``) are validated against it, so a typo is an error, not a silent default.
    """

    @dataclasses.dataclass
    class Config:
        pass

    name: ClassVar[str] = ""
    # Length of the action chunks this policy plans (1 = one action per call).
    chunk_length: int = 1

    def __init__(self, config: Any, spec: EnvSpec) -> None:
        self.config = config
        self.spec = spec

    def reset(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Forget per-env state for ``env_ids`` (all envs when None)."""

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return actions ``[num_envs, action_dim]`` for the batched observations."""
        raise NotImplementedError

    def get_action_chunk(self, obs: Mapping[str, np.ndarray], env_ids: np.ndarray) -> np.ndarray:
        """Return ``[len(env_ids), chunk_length, action_dim]`` for the envs in ``env_ids``.

        ``obs`` holds only those envs' rows. The default plans one step ahead.
        """
        full = self.get_action(obs)
        return full[:, None, :]

    def set_task_description(self, text: str) -> None:
        """Language-conditioned policies take the instruction here; others ignore it."""

    def length(self) -> tuple[str, int] | None:
        """A policy that defines its own run length returns ("steps"|"episodes", n)."""
        return None

    def close(self) -> None:
        """Release resources (sockets, GPU memory)."""


PolicyFactory = Callable[[Any, EnvSpec], Policy]
_REGISTRY: dict[str, type[Policy]] = {}
# Built-in policies live in modules that are imported on first lookup, keeping startup light.
_BUILTIN_MODULES = (
    "arena_eval.policies.builtin",
    "arena_eval.policies.scripted",
    "arena_eval.policies.remote",
    "arena_eval.policies.gr00t",
    "arena_eval.policies.openpi",
    "arena_eval.policies.checkpoint",
    "arena_eval.policies.lerobot",
)


def register_policy(name: str) -> Callable[[type[Policy]], type[Policy]]:
    """Class decorator: make a policy available as ``policy=<name>``."""

    def wrap(cls: type[Policy]) -> type[Policy]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"policy name {name!r} is already registered by {_REGISTRY[name]}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            # Only swallow a missing built-in module itself, never a broken import inside one.
            if err.name != module:
                raise


def registered_policies() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def resolve_policy_class(name: str) -> type[Policy]:
    """A registered name or a dotted path ``package.module.Class`` (or ``module:Class``)."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if "." in name or ":" in name:
        module_name, _, attr = name.replace(":", ".").rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            raise PolicyError(
                f"policy {name!r}: cannot import module {module_name!r} "
                f"(missing package {err.name!r}). Install it, or use one of: "
                f"{', '.join(sorted(_REGISTRY))}"
            ) from None
        cls = getattr(module, attr, None)
        if cls is None:
            raise PolicyError(f"policy {name!r}: module {module_name!r} has no attribute {attr!r}")
        return cls
    raise PolicyError(
        f"unknown policy {name!r}; registered policies: {', '.join(sorted(_REGISTRY))}"
    )


class PolicyError(ConfigError):
    """A policy could not be resolved or configured; the message says why."""


def make_policy(policy_cfg: Mapping[str, Any], spec: EnvSpec) -> Policy:
    """Build the policy a config names: ``name`` (or ``_target_``) plus its settings."""
    params = {k: v for k, v in policy_cfg.items() if k not in ("name", "_target_")}
    name = policy_cfg.get("_target_") or policy_cfg.get("name")
    if not name:
        raise PolicyError("the policy config needs a 'name' (registered name or dotted class path)")
    cls = resolve_policy_class(str(name))
    config = build_config(cls, params, f"policy {name!r}")
    return cls(config, spec)


def as_actions(actions: Any, spec: EnvSpec) -> np.ndarray:
    """Accept numpy arrays or torch tensors from a policy; check the shape once, clearly."""
    if type(actions) is np.ndarray:  # the common case, without an attribute lookup
        if actions.dtype != np.float64:
            actions = actions.astype(np.float64)
    else:
        if hasattr(actions, "detach"):  # torch.Tensor, without importing torch here
            actions = actions.detach().cpu().numpy()
        actions = np.asarray(actions, dtype=np.float64)
    if actions.shape != (spec.num_envs, spec.action_dim):
        raise PolicyError(
            f"policy returned actions of shape {actions.shape}; the env expects "
            f"({spec.num_envs}, {spec.action_dim}) for {spec.embodiment} ({spec.action_mode})"
        )
    return actions
