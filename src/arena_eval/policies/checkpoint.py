"""A learned policy loaded from a checkpoint file: ``policy=checkpoint policy.path=FILE``.

Two file formats are accepted. Both map a *state vector* — the observations named in
``obs_keys``, each flattened per env and concatenated in that order, as float32 — to one action
per env in the env's own units. The actions are clipped to the embodiment's action bounds.

1. ``arena-eval/mlp-v1``: a dict written with ``torch.save`` (what ``scripts/train_bc.py``
   writes). It is read with ``torch.load(path, weights_only=True)``, so a file that holds
   anything but tensors and plain Python values (str, int, float, bool, None, list, tuple,
   dict) is refused and nothing in it is executed. Keys:

   ``format``       the string ``"arena-eval/mlp-v1"``
   ``obs_keys``     list[str]: observation names, in the order they are concatenated
   ``obs_sizes``    list[int]: flattened size of each of them (checked against the env)
   ``obs_mean``     float32 tensor [state_dim]: input normalisation, ``x = (s - mean) / std``
   ``obs_std``      float32 tensor [state_dim] (already floored: no zeros)
   ``act_mean``     float32 tensor [action_dim]: output de-normalisation, ``a = y * std + mean``
   ``act_std``      float32 tensor [action_dim]
   ``hidden``       list[int]: hidden layer widths of the MLP
   ``activation``   ``"relu"`` (optional; the only value defined by v1)
   ``state_dict``   the weights of ``build_mlp(state_dim, hidden, action_dim)``: a
                    ``torch.nn.Sequential`` of Linear layers with ReLU between them, so the
                    keys are ``0.weight, 0.bias, 2.weight, 2.bias, ...``
   ``action_dim``   int
   ``env``          str: the env (task) it was trained on
   ``embodiment``   str: the embodiment it was trained for
   ``info``         dict (optional): free-form provenance (objects, episodes, seed, losses)

2. ``arena-eval/torchscript-v1``: a TorchScript archive (``torch.jit.save``) whose module's
   ``forward`` takes the raw float32 state ``[batch, state_dim]`` and returns actions
   ``[batch, action_dim]`` (normalisation, if any, happens inside the module). Its metadata
   travels as the extra file ``arena_eval.json`` (``torch.jit.save(m, path,
   _extra_files={"arena_eval.json": json.dumps(meta)})``) with the keys ``format``,
   ``obs_keys``, ``obs_sizes``, ``action_dim`` and optionally ``env`` and ``embodiment``.
   :func:`export_torchscript` turns an mlp-v1 checkpoint into one. TorchScript runs
   TorchScript code, not arbitrary Python, but it is still code: load archives you trust.

At construction the policy checks that every ``obs_keys`` entry exists in the env's
observations with the recorded size and that ``action_dim`` matches the embodiment's; a
mismatch is a :class:`PolicyError` that names what differs. A checkpoint trained on another
env or embodiment with compatible shapes is allowed, with a warning in the log.

torch is imported on first use, not with this module: the registry imports every built-in
policy module, and a run that uses no torch policy should not pay for torch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena_eval.envs.base import EnvSpec
from arena_eval.policies.base import Policy, PolicyError, register_policy

log = logging.getLogger("arena_eval")

MLP_FORMAT = "arena-eval/mlp-v1"
TORCHSCRIPT_FORMAT = "arena-eval/torchscript-v1"
TORCHSCRIPT_META = "arena_eval.json"
MLP_KEYS = (
    "format",
    "obs_keys",
    "obs_sizes",
    "obs_mean",
    "obs_std",
    "act_mean",
    "act_std",
    "hidden",
    "state_dict",
    "action_dim",
    "env",
    "embodiment",
)
_MISSING_PATH = (None, "", "???")


def build_mlp(state_dim: int, hidden: Sequence[int], action_dim: int):
    """The network of format mlp-v1: a ``torch.nn.Sequential``, Linear layers with ReLU between."""
    from torch import nn

    layers: list[nn.Module] = []
    width = state_dim
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    layers.append(nn.Linear(width, action_dim))
    return nn.Sequential(*layers)


def obs_sizes(spec: EnvSpec, keys: Sequence[str]) -> list[int]:
    """Flattened size of each observation in ``keys`` (KeyError for an unknown key)."""
    return [math.prod(spec.observations[k].shape) for k in keys]


def state_vector(obs: Mapping[str, Any], keys: Sequence[str]) -> np.ndarray:
    """The documented state: ``obs[k]`` flattened per env, concatenated in ``keys`` order."""
    rows = len(next(iter(obs.values())))
    parts = [np.asarray(obs[k], dtype=np.float32).reshape(rows, -1) for k in keys]
    return np.concatenate(parts, axis=1)


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``constants.pkl`` member."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise PolicyError(
            f"policy.device={device!r} is not a device; use auto, cpu, cuda or cuda:N"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise PolicyError(f"policy.device={device!r} but CUDA is not available here; use cpu")
    return resolved


def mlp_model(ckpt: Mapping[str, Any]):
    """An mlp-v1 network with its normalisation, as one module: raw state in, actions out."""
    import torch
    from torch import nn

    class MlpPolicyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            state_dim = sum(int(s) for s in ckpt["obs_sizes"])
            self.net = build_mlp(state_dim, ckpt["hidden"], int(ckpt["action_dim"]))
            for name in ("obs_mean", "obs_std", "act_mean", "act_std"):
                self.register_buffer(name, torch.as_tensor(ckpt[name], dtype=torch.float32))

        def forward(self, state: torch.Tensor) -> torch.Tensor:
            y = self.net((state - self.obs_mean) / self.obs_std.clamp(min=1e-6))
            return y * self.act_std + self.act_mean

    model = MlpPolicyNet()
    try:
        model.net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise PolicyError(
            f"the checkpoint's state_dict does not fit an MLP with hidden={list(ckpt['hidden'])}: "
            f"{err}"
        ) from None
    return model


def _load_failure(err: Exception) -> str:
    """The useful part of torch.load's error: which global it refused, or its first line."""
    text = str(err)
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if refused:
        return f"it contains a pickled Python object ({refused.group(1)})"
    first = re.sub(r"\x1b\[[0-9;]*m", "", text).strip().split("\n")[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def load_mlp_checkpoint(path: Path | str) -> dict[str, Any]:
    """Read and check an mlp-v1 file with ``weights_only=True``; PolicyError if it is not one."""
    import torch

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError for a pickled object; others for junk files
        raise PolicyError(
            f"cannot load checkpoint {path} with torch.load(weights_only=True): "
            f"{_load_failure(err)}. An {MLP_FORMAT} checkpoint holds only tensors and plain "
            "values, never pickled Python objects; arbitrary objects are refused, not "
            "unpickled (the format: arena_eval/policies/checkpoint.py)"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != MLP_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise PolicyError(
            f"checkpoint {path} is not in a documented format: expected format={MLP_FORMAT!r} "
            f"(or a TorchScript archive), found {found!r}"
        )
    missing = [k for k in MLP_KEYS if k not in ckpt]
    if missing:
        raise PolicyError(f"checkpoint {path} ({MLP_FORMAT}) lacks key(s): {', '.join(missing)}")
    if len(ckpt["obs_keys"]) != len(ckpt["obs_sizes"]):
        raise PolicyError(f"checkpoint {path}: obs_keys and obs_sizes differ in length")
    return ckpt


def export_torchscript(ckpt: Mapping[str, Any], path: Path | str) -> Path:
    """Write an mlp-v1 checkpoint (dict) as a self-contained torchscript-v1 archive."""
    import torch

    path = Path(path)
    model = mlp_model(ckpt).eval()
    meta = {
        "format": TORCHSCRIPT_FORMAT,
        "obs_keys": list(ckpt["obs_keys"]),
        "obs_sizes": [int(s) for s in ckpt["obs_sizes"]],
        "action_dim": int(ckpt["action_dim"]),
        "env": ckpt.get("env"),
        "embodiment": ckpt.get("embodiment"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Tracing is exact here: the network has no data-dependent control flow.
    example = torch.zeros(1, sum(meta["obs_sizes"]))
    traced = torch.jit.trace(model, example)
    torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_META: json.dumps(meta)})
    return path


def _load_torchscript(path: Path, device) -> tuple[Any, dict[str, Any]]:
    import torch

    extra = {TORCHSCRIPT_META: ""}
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as err:
        raise PolicyError(f"cannot load TorchScript archive {path}: {err}") from None
    raw = extra[TORCHSCRIPT_META]
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != TORCHSCRIPT_FORMAT:
        raise PolicyError(
            f"TorchScript archive {path} lacks valid {TORCHSCRIPT_META} metadata with "
            f"format={TORCHSCRIPT_FORMAT!r} (obs_keys, obs_sizes, action_dim); save it with "
            f'torch.jit.save(module, path, _extra_files={{"{TORCHSCRIPT_META}": json.dumps(meta)}})'
        )
    missing = [k for k in ("obs_keys", "obs_sizes", "action_dim") if k not in meta]
    if missing:
        raise PolicyError(f"{path}: {TORCHSCRIPT_META} lacks key(s): {', '.join(missing)}")
    return module.eval(), meta


def check_compatible(meta: Mapping[str, Any], spec: EnvSpec, path: Path) -> None:
    """Observation keys/sizes and action dim against the env; PolicyError naming the differences."""
    problems = []
    for key, size in zip(meta["obs_keys"], meta["obs_sizes"], strict=True):
        if key not in spec.observations:
            problems.append(
                f"observation {key!r} is not provided by {spec.task}/{spec.embodiment} "
                f"(it provides: {', '.join(sorted(spec.observations))})"
            )
        elif (env_size := math.prod(spec.observations[key].shape)) != int(size):
            problems.append(
                f"observation {key!r} has size {env_size} in the env, {int(size)} in the checkpoint"
            )
    if int(meta["action_dim"]) != spec.action_dim:
        problems.append(
            f"action_dim is {int(meta['action_dim'])} in the checkpoint, {spec.action_dim} for "
            f"embodiment {spec.embodiment!r} ({spec.action_mode}: {', '.join(spec.action_names)})"
        )
    if problems:
        trained = f"{meta.get('env')}/{meta.get('embodiment')}"
        raise PolicyError(
            f"checkpoint {path} (trained for {trained}) does not fit env "
            f"{spec.task}/{spec.embodiment}:\n  - " + "\n  - ".join(problems)
        )
    for what, ours in (("env", spec.task), ("embodiment", spec.embodiment)):
        theirs = meta.get(what)
        if theirs and theirs != ours:
            log.warning("checkpoint %s was trained for %s %r, runs on %r", path, what, theirs, ours)


@register_policy("checkpoint")
class CheckpointPolicy(Policy):
    """Runs a checkpoint (mlp-v1 or torchscript-v1, see the module docstring) on the state."""

    @dataclasses.dataclass
    class Config:
        path: str | None = None
        device: str = "auto"  # auto | cpu | cuda | cuda:N

    def __init__(self, config: Config, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        if config.path in _MISSING_PATH:
            raise PolicyError(
                "policy=checkpoint needs the checkpoint file: add policy.path=FILE "
                "(e.g. policy.path=outputs/checkpoints/bc_lift_object.pt, written by "
                "scripts/train_bc.py)"
            )
        path = Path(str(config.path)).expanduser()
        if not path.is_file():
            raise PolicyError(
                f"policy.path={config.path}: no such file (relative paths start at {Path.cwd()})"
            )
        self.path = path
        self.device = resolve_device(str(config.device))
        if is_torchscript(path):
            self.model, self.meta = _load_torchscript(path, self.device)
            check_compatible(self.meta, spec, path)
        else:
            self.meta = load_mlp_checkpoint(path)
            check_compatible(self.meta, spec, path)  # before the weights: the clearer error
            self.model = mlp_model(self.meta).to(self.device).eval()
        self.obs_keys = list(self.meta["obs_keys"])
        self._low = np.asarray(spec.action_low, dtype=np.float32)
        self._high = np.asarray(spec.action_high, dtype=np.float32)

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        import torch

        state = torch.from_numpy(state_vector(obs, self.obs_keys)).to(self.device)
        with torch.inference_mode():
            actions = self.model(state)
        actions = actions.float().cpu().numpy()
        return np.clip(actions, self._low, self._high)

    def close(self) -> None:
        self.model = None
