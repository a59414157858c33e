"""How our observations and actions map onto LeRobot features, shared by the dataset writer
(recording.py) and ``policy=lerobot``, so that what one writes the other reads by default.

- ``observation.state``: the state keys (default: every non-image observation, in the env's
  order), each flattened per env and concatenated, float32; one name per number.
- ``observation.environment_state``: optional, the same for the keys named there.
- ``observation.images.<camera>``: our ``image_<camera>`` (uint8 HxWx3).
- ``action``: the embodiment's action, in its own order and names.

lerobot itself is never imported here: this module only names things, so the 3.11 venv can
validate configs and say what is missing.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena_eval.envs.base import EnvSpec

STATE = "observation.state"
ENV_STATE = "observation.environment_state"
IMAGES = "observation.images."
IMAGE_PREFIX = "image_"
LEROBOT_VENV_HINT = (
    "lerobot (0.6.1: Python >= 3.12, torch < 2.12) lives in its own venv: run `make "
    "setup-lerobot`, then .venv-lerobot/bin/arena-eval (see docs/lerobot.md)"
)


def lerobot_missing(what: str) -> str | None:
    """None when lerobot is importable here, else a message saying what to do."""
    if importlib.util.find_spec("lerobot") is not None:
        return None
    return f"{what} needs lerobot, which is not installed in this Python: {LEROBOT_VENV_HINT}"


def image_keys(spec: EnvSpec) -> list[str]:
    return [k for k, s in spec.observations.items() if _is_image(k, s.dtype)]


def default_state_keys(spec: EnvSpec) -> list[str]:
    """Every non-image observation, in the env's order."""
    return [k for k, s in spec.observations.items() if not _is_image(k, s.dtype)]


def _is_image(key: str, dtype: str) -> bool:
    return key.startswith(IMAGE_PREFIX) and dtype == "uint8"


def camera_feature(obs_key: str) -> str:
    """``image_front`` -> ``observation.images.front``."""
    return IMAGES + obs_key[len(IMAGE_PREFIX) :]


_AXES = {3: ("x", "y", "z"), 4: ("w", "x", "y", "z")}


def state_names(spec: EnvSpec, keys: Sequence[str]) -> list[str]:
    """One name per number of the concatenated state: ``joint_pos.<joint>`` where the
    embodiment names its joints, ``ee_pos.x`` / ``ee_quat.w`` for positions and quaternions,
    else ``<key>.<i>``."""
    joint_names = list(spec.embodiment_info.get("joint_names") or [])
    names: list[str] = []
    for key in keys:
        size = math.prod(spec.observations[key].shape)
        if key in ("joint_pos", "joint_vel") and len(joint_names) == size:
            parts = joint_names
        elif (key.endswith(("_pos", "_vel", "_size")) and size == 3) or key.endswith("_quat"):
            parts = list(_AXES.get(size, range(size)))
        else:
            parts = [str(i) for i in range(size)]
        names += [f"{key}.{p}" for p in parts] if size > 1 else [key]
    return names


def check_keys(spec: EnvSpec, keys: Sequence[str], where: str) -> list[str]:
    """Problems with ``keys`` as state keys of this env (unknown or image keys)."""
    problems = []
    for key in keys:
        if key not in spec.observations:
            problems.append(
                f"{where}: {key!r} is not an observation of {spec.task}/{spec.embodiment} "
                f"(it has: {', '.join(default_state_keys(spec))})"
            )
        elif _is_image(key, spec.observations[key].dtype):
            problems.append(f"{where}: {key!r} is an image; cameras become their own features")
    return problems


def concat(obs: Mapping[str, Any], keys: Sequence[str]) -> np.ndarray:
    """``obs[k]`` flattened per env and concatenated in ``keys`` order, float32 ``[B, D]``."""
    rows = len(obs[keys[0]])
    return np.concatenate(
        [np.asarray(obs[k], dtype=np.float32).reshape(rows, -1) for k in keys], axis=1
    )


def state_size(spec: EnvSpec, keys: Sequence[str]) -> int:
    return sum(math.prod(spec.observations[k].shape) for k in keys)
