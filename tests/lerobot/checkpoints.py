"""Tiny LeRobot checkpoints for tests, built with lerobot's own config classes and saved with
``save_pretrained`` (weights random, normalisation from given or unit statistics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_act(
    folder: Path,
    state: int,
    action: int,
    env_state: int = 0,
    images: dict[str, tuple[int, int]] | None = None,
    chunk_size: int = 8,
    n_action_steps: int = 8,
    seed: int = 0,
) -> Path:
    """A small ACT (random weights) saved with its processors into ``folder``."""
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    torch.manual_seed(seed)
    inputs = {"observation.state": PolicyFeature(FeatureType.STATE, (state,))}
    stats = {"observation.state": _unit(state), "action": _unit(action)}
    if env_state:
        inputs["observation.environment_state"] = PolicyFeature(FeatureType.ENV, (env_state,))
        stats["observation.environment_state"] = _unit(env_state)
    for name, (h, w) in (images or {}).items():
        inputs[f"observation.images.{name}"] = PolicyFeature(FeatureType.VISUAL, (3, h, w))
        stats[f"observation.images.{name}"] = {
            "mean": np.full((3, 1, 1), 0.5, np.float32),
            "std": np.full((3, 1, 1), 0.25, np.float32),
        }
    config = ACTConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (action,))},
        chunk_size=chunk_size,
        n_action_steps=n_action_steps,
        dim_model=32,
        n_heads=2,
        dim_feedforward=64,
        n_encoder_layers=1,
        n_vae_encoder_layers=1,
        latent_dim=8,
        vision_backbone="resnet18",
        pretrained_backbone_weights=None,  # nothing is downloaded
        device="cpu",
    )
    policy = ACTPolicy(config)
    pre, post = make_pre_post_processors(config, dataset_stats=stats)
    folder.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(folder)
    pre.save_pretrained(folder)
    post.save_pretrained(folder)
    return folder


def _unit(n: int) -> dict[str, np.ndarray]:
    return {"mean": np.zeros(n, np.float32), "std": np.ones(n, np.float32)}


def tiny_diffusion(folder: Path, state: int, action: int, env_state: int, seed: int = 0) -> Path:
    """A small Diffusion policy (random weights, two observations of history) in ``folder``."""
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors

    torch.manual_seed(seed)
    config = DiffusionConfig(
        input_features={
            "observation.state": PolicyFeature(FeatureType.STATE, (state,)),
            "observation.environment_state": PolicyFeature(FeatureType.ENV, (env_state,)),
        },
        output_features={"action": PolicyFeature(FeatureType.ACTION, (action,))},
        n_obs_steps=2,
        horizon=8,
        n_action_steps=4,
        down_dims=(16, 32),
        kernel_size=3,
        n_groups=4,
        diffusion_step_embed_dim=16,
        num_inference_steps=3,
        pretrained_backbone_weights=None,
        device="cpu",
    )
    stats = {
        "observation.state": _min_max(state),
        "observation.environment_state": _min_max(env_state),
        "action": _min_max(action),
    }
    pre, post = make_pre_post_processors(config, dataset_stats=stats)
    folder.mkdir(parents=True, exist_ok=True)
    DiffusionPolicy(config).save_pretrained(folder)
    pre.save_pretrained(folder)
    post.save_pretrained(folder)
    return folder


def _min_max(n: int) -> dict[str, np.ndarray]:
    return {
        "min": -np.ones(n, np.float32),
        "max": np.ones(n, np.float32),
        "mean": np.zeros(n, np.float32),
        "std": np.ones(n, np.float32),
    }
