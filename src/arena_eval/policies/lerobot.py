"""policy=lerobot: any LeRobot policy saved with ``save_pretrained``, from a local folder.

The folder holds LeRobot's ``config.json``, ``model.safetensors`` and its processor pipelines
(``policy_preprocessor.json`` / ``policy_postprocessor.json`` with their state files), as
``lerobot-train`` writes them under ``checkpoints/<step>/pretrained_model``. They are loaded
with lerobot's own code (``PreTrainedConfig``, the policy class of its type, and
``make_pre_post_processors``); the hub is never asked.

The mapping is ours, declared in ``conf/policy/lerobot.yaml``:
- ``inputs``: LeRobot input feature -> our observation key(s). Unset features take the
  defaults of record_dataset=true (``lerobot_features.py``): ``observation.state`` = every
  non-image observation in the env's order, ``observation.images.<cam>`` = ``image_<cam>``.
  A missing or mis-sized feature is an error listing what the checkpoint wants and what the
  env has.
- ``actions``: our action names in the order the policy outputs them (default: the
  embodiment's own order, as recorded).

Chunks are kept per env (the broker ``policy=remote`` uses): an env that resets gets a fresh
chunk at its next step, while the others play theirs out; ``n_action_steps`` of each chunk are
played. Policies that need an observation history (``n_obs_steps`` > 1) are refused.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena_eval import lerobot_features as lf
from arena_eval.envs.base import EnvSpec
from arena_eval.policies.base import Policy, PolicyError, register_policy
from arena_eval.remote import ActionChunkBroker

log = logging.getLogger("arena_eval")


@register_policy("lerobot")
class LeRobotPolicy(Policy):
    @dataclasses.dataclass
    class Config:
        path: str | None = None  # a save_pretrained folder (its config.json, weights, processors)
        device: str = "auto"  # auto | cpu | cuda | cuda:N
        # LeRobot input feature -> our observation key (or list of keys, concatenated).
        inputs: dict[str, Any] | None = None
        actions: list[str] | None = None  # our action names in the policy's output order
        n_action_steps: int | None = None  # actions played from each chunk; null: the checkpoint's
        instruction: str | None = None  # task string; else language_instruction, else the env's

    def __init__(self, config: Config, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        missing = lf.lerobot_missing("policy=lerobot")
        if missing:
            raise PolicyError(missing)
        if config.path in (None, "", "???"):
            raise PolicyError(
                "policy=lerobot needs a checkpoint folder: policy.path=<dir> (a folder saved with "
                "save_pretrained, e.g. outputs/train/<run>/checkpoints/last/pretrained_model)"
            )
        self.path = Path(str(config.path)).expanduser()
        if not (self.path / "config.json").is_file():
            raise PolicyError(
                f"policy.path={config.path}: no LeRobot config.json there (relative paths start "
                f"at {Path.cwd()}); give the pretrained_model folder that save_pretrained wrote"
            )
        from arena_eval.policies.checkpoint import resolve_device

        self.device = resolve_device(str(config.device))
        self._load()
        self._plan(spec)
        self._broker = ActionChunkBroker(spec.num_envs, spec.action_dim)
        self.instruction = config.instruction or spec.task.replace("_", " ")
        self._low = np.asarray(spec.action_low, dtype=np.float32)
        self._high = np.asarray(spec.action_high, dtype=np.float32)
        self._envs_per_call: list[int] = []
        self._history: dict[str, np.ndarray] = {}  # feature -> [envs, n_obs_steps, ...]
        self._fresh = np.ones(spec.num_envs, dtype=bool)  # history to start from the next obs

    # -- loading and checks --------------------------------------------------------------
    def _load(self) -> None:
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors

        logging.getLogger("lerobot").setLevel(logging.WARNING)
        path = str(self.path)
        try:
            cfg = PreTrainedConfig.from_pretrained(path)
        except Exception as err:
            raise PolicyError(
                f"policy=lerobot: cannot read {self.path}/config.json: {err}"
            ) from None
        cfg.device = str(self.device)
        if getattr(cfg, "pretrained_backbone_weights", None):
            # The checkpoint holds the backbone's trained weights: building it must not fetch
            # ImageNet weights first (no downloads at run time).
            cfg.pretrained_backbone_weights = None
        self.lerobot_config = cfg
        self.n_obs_steps = int(getattr(cfg, "n_obs_steps", 1) or 1)
        self.model = get_policy_class(cfg.type).from_pretrained(path, config=cfg)
        self.model.to(self.device).eval()
        self.preprocess, self.postprocess = make_pre_post_processors(
            cfg,
            pretrained_path=path,
            preprocessor_overrides={"device_processor": {"device": str(self.device)}},
            postprocessor_overrides={"device_processor": {"device": "cpu"}},
        )
        steps = self.config.n_action_steps or getattr(cfg, "n_action_steps", None) or 1
        if getattr(cfg, "temporal_ensemble_coeff", None) is not None:
            log.warning(
                "policy=lerobot: %s uses temporal ensembling, which needs one queue for the "
                "whole batch; here each env plays the first action of a fresh chunk each step",
                cfg.type,
            )
            steps = 1
        self.chunk_length = int(steps)

    def _plan(self, spec: EnvSpec) -> None:
        """Map every input feature onto our observations; list every mismatch at once."""
        cfg = self.lerobot_config
        inputs = dict(self.config.inputs or {})
        problems: list[str] = []
        self.state_inputs: dict[str, list[str]] = {}  # feature -> our keys (concatenated)
        self.image_inputs: dict[str, str] = {}  # feature -> our image key
        for name, feature in cfg.input_features.items():
            want = tuple(feature.shape)
            if name.startswith(lf.IMAGES) or feature.type.name in ("VISUAL", "IMAGE"):
                key = inputs.get(name) or lf.IMAGE_PREFIX + name.rsplit(".", 1)[-1]
                have = spec.observations.get(key)
                if have is None or have.dtype != "uint8":
                    problems.append(
                        f"{name} {want}: no image {key!r} here (turn cameras on with "
                        f"enable_cameras=true cameras.names=[...], or map it in policy.inputs)"
                    )
                elif (have.shape[2], have.shape[0], have.shape[1]) != want:
                    problems.append(
                        f"{name} {want} (C, H, W): {key!r} is {tuple(have.shape)} (H, W, C) here; "
                        f"set cameras.height={want[1]} cameras.width={want[2]}"
                    )
                else:
                    self.image_inputs[name] = key
                continue
            keys = inputs.get(name)
            if keys is None and name == lf.STATE:
                keys = lf.default_state_keys(spec)
            if keys is None:
                problems.append(f"{name} {want}: not mapped (set policy.inputs.{name}: [keys])")
                continue
            keys = [keys] if isinstance(keys, str) else list(keys)
            bad = lf.check_keys(spec, keys, f"policy.inputs.{name}")
            if bad:
                problems += bad
                continue
            size = lf.state_size(spec, keys)
            if (size,) != want:
                problems.append(f"{name} {want}: {' + '.join(keys)} make ({size},) here")
            else:
                self.state_inputs[name] = keys
        out = cfg.output_features.get("action")
        order = list(self.config.actions or spec.action_names)
        unknown = [a for a in order if a not in spec.action_names]
        if unknown:
            problems.append(f"policy.actions names {unknown}, not actions of {spec.embodiment}")
        if out is None or tuple(out.shape) != (len(order),):
            shape = None if out is None else tuple(out.shape)
            problems.append(
                f"action {shape}: {spec.embodiment} takes {spec.action_dim} "
                f"({', '.join(spec.action_names)})"
            )
        elif len(order) != spec.action_dim:
            problems.append(f"policy.actions must name all {spec.action_dim} actions")
        if problems:
            raise PolicyError(
                f"policy=lerobot: the {cfg.type} checkpoint at {self.path} does not fit "
                f"{spec.task}/{spec.embodiment}:\n  - " + "\n  - ".join(problems) + "\n"
                f"the checkpoint wants: {_wants(cfg)}\nthe env has: {_has(spec)}"
            )
        self.action_order = np.array([spec.action_names.index(a) for a in order])

    # -- acting --------------------------------------------------------------------------
    def _features(self, obs: Mapping[str, np.ndarray], rows) -> dict[str, np.ndarray]:
        """Our observations as LeRobot's raw features: state float32, images uint8 HWC."""

        def take(key):
            value = obs[key]
            return value if rows is None else np.asarray(value)[rows]

        raw = {name: lf.concat({k: take(k) for k in keys}, keys)
               for name, keys in self.state_inputs.items()}  # fmt: skip
        raw.update({name: np.asarray(take(key)) for name, key in self.image_inputs.items()})
        return raw

    def _batch(self, raw: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Tensors as LeRobot's policies take them: images float CHW in [0, 1]."""
        import torch

        batch: dict[str, Any] = {}
        for name, value in raw.items():
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            if name in self.image_inputs:  # [..., H, W, C] uint8 -> [..., C, H, W] float
                tensor = tensor.movedim(-1, -3).float().div_(255.0)
            batch[name] = tensor
        batch["task"] = [self.instruction] * len(next(iter(raw.values())))
        return batch

    def _remember(self, obs: Mapping[str, np.ndarray]) -> None:
        """Push every env's observation into its history (n_obs_steps > 1 only)."""
        raw = self._features(obs, None)
        fresh = self._fresh
        for name, value in raw.items():
            history = self._history.get(name)
            if history is None:
                shape = (len(value), self.n_obs_steps, *value.shape[1:])
                history = self._history[name] = np.empty(shape, value.dtype)
            history[:, :-1] = history[:, 1:]
            history[:, -1] = value
            if fresh.any():
                history[fresh] = value[fresh][:, None]
        fresh[:] = False

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.n_obs_steps > 1:
            self._remember(obs)
        need = self._broker.needs_chunk()
        if need.size:
            rows = None if need.size == self.spec.num_envs else need
            chunk = self._chunk(obs, rows)
            self._broker.fill(need, chunk)
            self._envs_per_call.append(int(need.size))
        return np.clip(self._broker.pop(), self._low, self._high)

    def get_action_chunk(self, obs: Mapping[str, np.ndarray], env_ids: np.ndarray) -> np.ndarray:
        if self.n_obs_steps > 1:
            raise PolicyError(
                f"policy=lerobot: {self.lerobot_config.type} needs each env's observation "
                "history, which a policy server does not keep: evaluate it in-process"
            )
        return self._chunk(obs, None)

    def _chunk(self, obs, rows) -> np.ndarray:
        """``[envs, n_action_steps, action_dim]`` in the embodiment's order, unnormalised."""
        if self.n_obs_steps > 1:
            raw = {k: h if rows is None else h[rows] for k, h in self._history.items()}
        else:
            raw = self._features(obs, rows)
        batch = self.preprocess(self._batch(raw))
        chunk = self.model.predict_action_chunk(batch)[:, : self.chunk_length]
        chunk = self.postprocess(chunk)
        chunk = chunk.float().cpu().numpy()
        out = np.empty_like(chunk)
        out[..., self.action_order] = chunk
        return out

    def reset(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        ids = None if env_ids is None else np.asarray(env_ids, dtype=np.int64).reshape(-1)
        if ids is None or ids.size:
            self._broker.reset(ids)
            self._fresh[slice(None) if ids is None else ids] = True

    def set_task_description(self, text: str) -> None:
        if not self.config.instruction:
            self.instruction = text

    def stats(self) -> dict[str, Any]:
        cfg = self.lerobot_config
        return {
            "type": cfg.type,
            "path": str(self.path),
            "device": str(self.device),
            "chunk_length": self.chunk_length,
            "infer_calls": len(self._envs_per_call),
            "envs_per_call_mean": float(np.mean(self._envs_per_call))
            if self._envs_per_call
            else 0.0,
        }

    def close(self) -> None:
        self.model = None


def _wants(cfg) -> str:
    parts = [f"{k} {tuple(f.shape)}" for k, f in cfg.input_features.items()]
    parts += [f"{k} {tuple(f.shape)}" for k, f in cfg.output_features.items()]
    return ", ".join(parts)


def _has(spec: EnvSpec) -> str:
    parts = [f"{k} ({math.prod(s.shape)},)" for k in lf.default_state_keys(spec)
             for s in [spec.observations[k]]]  # fmt: skip
    parts += [f"{k} {tuple(spec.observations[k].shape)}" for k in lf.image_keys(spec)]
    parts.append(f"action ({spec.action_dim},)")
    return ", ".join(parts)
