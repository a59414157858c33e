"""Behaviour cloning from the scripted expert: collect demonstrations, train an MLP, save it.

1. Collect: the env and the scripted expert run in this process (as ``rollout`` runs them);
   every step of every env records (state, expert action). Episodes that end in success are
   kept, the others dropped. The state is the observations in ``--obs-keys`` (default
   ``DEFAULT_OBS_KEYS``, or ``HUMANOID_OBS_KEYS`` for gr1_ik/g1_ik), each flattened per env
   and concatenated in that order.
2. Train: an MLP (``policies.checkpoint.build_mlp``) on standardised states and actions, mean
   squared error, Adam with a cosine learning-rate decay. The last ``--val-fraction`` of the
   kept episodes are held out; the report compares the model's error on them with the error
   of always predicting the mean action (both in standardised units, so 1.0 = no better than
   the mean).
3. Save: a ``torch.save``d dict in format ``arena-eval/mlp-v1`` (documented in
   ``src/arena_eval/policies/checkpoint.py``), which ``policy=checkpoint policy.path=FILE``
   evaluates; ``--torchscript FILE`` also writes the TorchScript form.

    .venv/bin/python scripts/train_bc.py --env lift_object --embodiment franka_ik \\
        --object cracker_box --episodes 400 --epochs 150
    arena-eval policy=checkpoint policy.path=outputs/checkpoints/bc_lift_object.pt length.n=20

Demonstrations come from the episode seeds of ``--seed`` (default 1); evaluations use
``seed=0`` by default, so the evaluated episodes are not among the demonstrations.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arena_eval.app import SimApp
from arena_eval.config import compose, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.job import make_job_policy
from arena_eval.policies.base import PolicyError, as_actions
from arena_eval.policies.checkpoint import (
    MLP_FORMAT,
    build_mlp,
    export_torchscript,
    load_mlp_checkpoint,
    obs_sizes,
    state_vector,
)

DEFAULT_OBS_KEYS = (
    "joint_pos",
    "ee_pos",
    "ee_quat",
    "gripper_opening",
    "object_pos",
    "object_quat",
    "object_size",
)
# Bimanual humanoids (gr1_ik, g1_ik): both hands' grasp frames and closures instead.
HUMANOID_OBS_KEYS = (
    "joint_pos",
    "left_ee_pos",
    "left_ee_quat",
    "right_ee_pos",
    "right_ee_quat",
    "hand_closure",
    "object_pos",
    "object_quat",
    "object_size",
)


def default_obs_keys(spec) -> tuple[str, ...]:
    """A bimanual humanoid's state keys when the env has both hands, else the arm's."""
    return HUMANOID_OBS_KEYS if "left_ee_pos" in spec.observations else DEFAULT_OBS_KEYS


@dataclass
class Demos:
    """Successful expert episodes, in episode-index order: one [steps, dim] array each."""

    env: str
    embodiment: str
    objects: list[str]
    obs_keys: list[str]
    obs_sizes: list[int]
    action_dim: int
    states: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    attempted: int = 0
    collect_s: float = 0.0

    @property
    def samples(self) -> int:
        return sum(len(a) for a in self.actions)


def collect(
    env: str = "lift_object",
    embodiment: str = "franka_ik",
    obj: str = "cracker_box",
    episodes: int = 400,
    seed: int = 1,
    num_envs: int = 8,
    obs_keys: Sequence[str] | None = None,
) -> Demos:
    """Run the scripted expert for ``episodes`` episodes; keep the successful ones."""
    start = time.perf_counter()
    num_envs = max(1, min(num_envs, episodes))  # every env starts an episode at reset
    job = validate(
        compose(
            [
                f"env={env}",
                f"embodiment={embodiment}",
                f"object={obj}",
                "policy=scripted",
                f"num_envs={num_envs}",
                f"seed={seed}",
                "progress=false",
            ]
        )
    )
    sim_env = SimApp.get(job).make_env(job)
    try:
        spec = sim_env.spec
        obs_keys = list(obs_keys or default_obs_keys(spec))
        try:
            sizes = obs_sizes(spec, obs_keys)
        except KeyError as err:
            raise PolicyError(
                f"observation {err} is not provided by {env}/{embodiment}; "
                f"it provides: {', '.join(sorted(spec.observations))}"
            ) from None
        expert = make_job_policy(job, sim_env)  # on gr1_joint: through the env's IK
        demos = Demos(env, embodiment, [obj], list(obs_keys), sizes, spec.action_dim)
        kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        buffers: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(num_envs)]
        obs = sim_env.reset(EpisodeSource(job.seed, episodes))
        expert.reset(None)
        active = np.ones(num_envs, dtype=bool)
        while active.any():
            actions = as_actions(expert.get_action(obs), spec)
            states = state_vector(obs, obs_keys)
            for i in np.flatnonzero(active):
                buffers[i].append((states[i], actions[i].astype(np.float32)))
            result = sim_env.step(actions)
            for record in result.episodes:
                steps = buffers[record.env_id]
                demos.attempted += 1
                if record.success and steps:
                    kept[record.episode_index] = (
                        np.stack([s for s, _ in steps]),
                        np.stack([a for _, a in steps]),
                    )
                buffers[record.env_id] = []
            if result.reset_env_ids.size:
                expert.reset(result.reset_env_ids)
            obs, active = result.obs, result.active
        for index in sorted(kept):
            demos.states.append(kept[index][0])
            demos.actions.append(kept[index][1])
        expert.close()
    finally:
        sim_env.close()
    demos.collect_s = time.perf_counter() - start
    return demos


def split(demos: Demos, val_fraction: float) -> tuple[list[int], list[int]]:
    """Episode indices for training and for held-out validation (the last ones)."""
    n = len(demos.actions)
    n_val = min(n - 1, max(1, round(n * val_fraction))) if val_fraction > 0 and n > 1 else 0
    return list(range(n - n_val)), list(range(n - n_val, n))


def _stack(parts: list[np.ndarray], ids: list[int], width: int) -> np.ndarray:
    if not ids:
        return np.zeros((0, width), dtype=np.float32)
    return np.concatenate([parts[i] for i in ids]).astype(np.float32)


def normalised_mse(ckpt: dict[str, Any], states: np.ndarray, actions: np.ndarray) -> dict:
    """The model's MSE and the mean action's MSE on (states, actions), standardised units."""
    from arena_eval.policies.checkpoint import mlp_model

    if not len(actions):
        return {"model": math.nan, "mean": math.nan, "ratio": math.nan}
    model = mlp_model(ckpt).eval()
    act_mean, act_std = ckpt["act_mean"].numpy(), ckpt["act_std"].numpy()
    with torch.inference_mode():
        predicted = model(torch.from_numpy(states)).numpy()
    model_mse = float((((predicted - actions) / act_std) ** 2).mean())
    mean_mse = float((((act_mean - actions) / act_std) ** 2).mean())
    return {"model": model_mse, "mean": mean_mse, "ratio": model_mse / max(mean_mse, 1e-12)}


def train(
    demos: Demos,
    hidden: Sequence[int] = (256, 256),
    epochs: int = 150,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 1,
    val_fraction: float = 0.1,
    log: bool = True,
) -> dict[str, Any]:
    """Fit the MLP to the demonstrations; return the mlp-v1 checkpoint dict."""
    if not demos.actions:
        raise RuntimeError(
            f"no successful demonstration out of {demos.attempted} episodes: nothing to train on"
        )
    start = time.perf_counter()
    torch.manual_seed(seed)
    train_ids, val_ids = split(demos, val_fraction)
    state_dim = sum(demos.obs_sizes)
    x = _stack(demos.states, train_ids, state_dim)
    y = _stack(demos.actions, train_ids, demos.action_dim)
    obs_mean, obs_std = x.mean(0), x.std(0)
    act_mean, act_std = y.mean(0), y.std(0)
    # A constant feature (one object's size) or action component: unit scale, not 1/0.
    obs_std = np.where(obs_std < 1e-6, 1.0, obs_std).astype(np.float32)
    act_std = np.where(act_std < 1e-6, 1.0, act_std).astype(np.float32)
    xs = torch.from_numpy((x - obs_mean) / obs_std)
    ys = torch.from_numpy((y - act_mean) / act_std)
    net = build_mlp(state_dim, hidden, demos.action_dim)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = max(1, math.ceil(len(xs) / batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=epochs * steps_per_epoch, eta_min=lr * 0.05
    )
    generator = torch.Generator().manual_seed(seed)
    train_loss = math.nan
    for epoch in range(epochs):
        order = torch.randperm(len(xs), generator=generator)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size : (b + 1) * batch_size]
            loss = torch.nn.functional.mse_loss(net(xs[idx]), ys[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        train_loss = total / len(xs)
        if log and (epoch + 1) % max(1, epochs // 10) == 0:
            print(f"epoch {epoch + 1:4d}/{epochs}  train mse {train_loss:.4f}", flush=True)
    ckpt: dict[str, Any] = {
        "format": MLP_FORMAT,
        "obs_keys": list(demos.obs_keys),
        "obs_sizes": [int(s) for s in demos.obs_sizes],
        "obs_mean": torch.from_numpy(obs_mean.astype(np.float32)),
        "obs_std": torch.from_numpy(obs_std),
        "act_mean": torch.from_numpy(act_mean.astype(np.float32)),
        "act_std": torch.from_numpy(act_std),
        "hidden": [int(h) for h in hidden],
        "activation": "relu",
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "action_dim": int(demos.action_dim),
        "env": demos.env,
        "embodiment": demos.embodiment,
    }
    val = normalised_mse(
        ckpt,
        _stack(demos.states, val_ids, state_dim),
        _stack(demos.actions, val_ids, demos.action_dim),
    )
    ckpt["info"] = {
        "objects": list(demos.objects),
        "episodes_attempted": int(demos.attempted),
        "episodes_kept": len(demos.actions),
        "episodes_train": len(train_ids),
        "episodes_val": len(val_ids),
        "samples_train": len(xs),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "seed": int(seed),
        "train_mse": float(train_loss),
        "val_mse": val["model"],
        "val_mse_mean_action": val["mean"],
        "val_mse_ratio": val["ratio"],
        "collect_s": float(demos.collect_s),
        "train_s": time.perf_counter() - start,
        "torch": str(torch.__version__),  # TorchVersion is not weights_only-safe
    }
    return ckpt


def save(ckpt: dict[str, Any], path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    load_mlp_checkpoint(tmp)  # what the policy will do: weights_only, format keys
    tmp.replace(path)
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="lift_object")
    p.add_argument("--embodiment", default="franka_ik")
    p.add_argument("--object", default="cracker_box")
    p.add_argument("--episodes", type=int, default=400, help="expert episodes to run")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--seed", type=int, default=1, help="demonstration episode seeds and init")
    p.add_argument("--output", default=None, help="default: outputs/checkpoints/bc_<env>.pt")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--hidden", default="256,256", help="hidden layer widths, comma-separated")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument(
        "--obs-keys", default="", help="comma-separated; default: the embodiment's state keys"
    )
    p.add_argument("--torchscript", default=None, help="also write a TorchScript archive here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    suffix = "" if args.embodiment == "franka_ik" else f"_{args.embodiment}"
    output = Path(args.output or f"outputs/checkpoints/bc_{args.env}{suffix}.pt")
    keys = [k.strip() for k in args.obs_keys.split(",") if k.strip()]
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    print(
        f"collecting {args.episodes} expert episodes on {args.env}/{args.embodiment}/{args.object}"
    )
    demos = collect(
        args.env, args.embodiment, args.object, args.episodes, args.seed, args.num_envs, keys
    )
    print(
        f"kept {len(demos.actions)}/{demos.attempted} successful episodes, "
        f"{demos.samples} samples, state dim {sum(demos.obs_sizes)} ({demos.collect_s:.1f} s)"
    )
    ckpt = train(demos, hidden, args.epochs, args.batch_size, args.lr, args.seed, args.val_fraction)
    info = ckpt["info"]
    print(
        f"trained in {info['train_s']:.1f} s: held-out mse {info['val_mse']:.4f} vs "
        f"{info['val_mse_mean_action']:.4f} for the mean action "
        f"(ratio {info['val_mse_ratio']:.3f}, standardised units)"
    )
    print(f"checkpoint: {save(ckpt, output)}")
    if args.torchscript:
        print(f"torchscript: {export_torchscript(ckpt, args.torchscript)}")
    print(
        f"evaluate:   arena-eval env={args.env} embodiment={args.embodiment} policy=checkpoint "
        f"policy.path={output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
