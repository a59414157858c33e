"""LeRobot costs: record_dataset=true against the same rollout without it, and policy=lerobot
step latency for an ACT at 16 envs. Runs in .venv-lerobot (``make bench-lerobot``).

Every figure is the median of ``--repeats`` runs of whole jobs (``run_job``, as arena-eval runs
them: the writer works inside the rollout, at the pace of the env) measured in this one run:

1. state only: lift_object, franka_ik, the scripted expert, 16 envs, 32 episodes, with and
   without recording (the dataset's write time is part of the rollout's wall time);
2. two cameras (front + wrist, 128x128, fast), 4 envs, 4 episodes, with and without recording
   (the baseline renders the same images; recording adds the copies and the AV1 encoding);
3. policy=lerobot: an ACT of the size scripts/train_lerobot.py trains (random weights, saved
   with save_pretrained into a temporary folder), 16 envs, 200 steps: latency of every step
   (most pop an action from the env's chunk; one in ``n_action_steps`` asks the model for all
   16 envs), the latency of one chunk for 16 envs alone, and the rollout's env-steps/s against
   the scripted expert's.

    .venv-lerobot/bin/python scripts/bench_lerobot.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from arena_eval.config import compose
from arena_eval.job import run_job

BASE = ("env=lift_object", "embodiment=franka_ik", "object=cracker_box", "progress=false")
CAMERAS = (
    "enable_cameras=true",
    "cameras.names=[front,wrist]",
    "cameras.width=128",
    "cameras.height=128",
)
RECORD = ("record_dataset=true", "dataset.only_success=false")


def job(folder: Path, *overrides: str) -> dict:
    result = run_job(compose([*BASE, *overrides]), output_dir=folder, show=False)
    return result.results


def median_rate(tmp: Path, label: str, repeats: int, *overrides: str) -> tuple[float, dict]:
    rates, last = [], {}
    for r in range(repeats):
        last = job(tmp / f"{label}-{r}", *overrides)
        rates.append(last["timing"]["env_steps_per_s"])
    return statistics.median(rates), last


def act_checkpoint(folder: Path) -> Path:
    """A random ACT of train_lerobot.py's size for lift_object (robot state 26, object 10)."""
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    torch.manual_seed(0)
    sizes = {"observation.state": 26, "observation.environment_state": 10}
    kinds = {
        "observation.state": FeatureType.STATE,
        "observation.environment_state": FeatureType.ENV,
    }
    config = ACTConfig(
        input_features={k: PolicyFeature(kinds[k], (n,)) for k, n in sizes.items()},
        output_features={"action": PolicyFeature(FeatureType.ACTION, (7,))},
        dim_model=64,
        n_heads=4,
        dim_feedforward=256,
        n_encoder_layers=1,
        n_vae_encoder_layers=1,
        latent_dim=16,
        chunk_size=20,
        n_action_steps=10,
        pretrained_backbone_weights=None,
        device="cpu",
    )
    unit = {
        k: {"mean": np.zeros(n, np.float32), "std": np.ones(n, np.float32)}
        for k, n in {**sizes, "action": 7}.items()
    }
    pre, post = make_pre_post_processors(config, dataset_stats=unit)
    ACTPolicy(config).save_pretrained(folder)
    pre.save_pretrained(folder)
    post.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.repeats
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        state = ("num_envs=16", "length.n=32", "policy=scripted")
        base, _ = median_rate(tmp, "state", n, *state)
        rec, last = median_rate(tmp, "state-rec", n, *state, *RECORD)
        write = last["dataset"]["write_s"] / last["timing"]["rollout_s"]
        print(
            f"state only, 16 envs: {base:.0f} env-steps/s; recording {rec:.0f} "
            f"(ratio {rec / base:.3f}; writing {write:.0%} of the rollout)",
            flush=True,
        )
        cams = ("num_envs=4", "length.n=4", "policy=scripted", *CAMERAS)
        cbase, _ = median_rate(tmp, "cams", n, *cams)
        crec, last = median_rate(tmp, "cams-rec", n, *cams, *RECORD)
        write = last["dataset"]["write_s"] / last["timing"]["rollout_s"]
        print(
            f"two cameras 128x128, 4 envs: {cbase:.1f} env-steps/s; recording {crec:.1f} "
            f"(ratio {crec / cbase:.3f}; writing {write:.0%} of the rollout)",
            flush=True,
        )

        model = act_checkpoint(tmp / "act")
        inputs = (
            "policy.inputs={observation.state:[joint_pos,joint_vel,ee_pos,ee_quat,"
            "gripper_opening],observation.environment_state:[object_pos,object_quat,"
            "object_size]}"
        )
        steps = ("num_envs=16", "length=steps", "length.n=200")
        expert, _ = median_rate(tmp, "expert", n, *steps, "policy=scripted")
        p50, p90, mean, chunk, rate = [], [], [], [], []
        for r in range(n):
            res = job(
                tmp / f"act-{r}",
                *steps,
                "policy=lerobot",
                f"policy.path={model}",
                inputs,
                "policy.device=cpu",
            )
            lat = res["timing"]["policy_latency_ms"]
            p50.append(lat["p50"])
            p90.append(lat["p90"])
            mean.append(lat["mean"])
            rate.append(res["timing"]["env_steps_per_s"])
        chunk = chunk_ms(model, inputs, n)
        print(
            f"policy=lerobot ACT, 16 envs: step latency p50 {statistics.median(p50):.2f} ms, "
            f"p90 {statistics.median(p90):.2f} ms, mean {statistics.median(mean):.2f} ms; "
            f"one chunk for 16 envs {chunk:.1f} ms; {statistics.median(rate):.0f} env-steps/s "
            f"(scripted expert {expert:.0f}, ratio {statistics.median(rate) / expert:.3f})"
        )
    return 0


def chunk_ms(model: Path, inputs: str, repeats: int) -> float:
    """Median time of one chunk (preprocess, model, postprocess) for 16 envs."""
    import torch

    from arena_eval.app import SimApp
    from arena_eval.config import validate
    from arena_eval.envs.base import EpisodeSource
    from arena_eval.policies.base import make_policy

    spec = validate(
        compose(
            [
                *BASE,
                "num_envs=16",
                "policy=lerobot",
                f"policy.path={model}",
                inputs,
                "policy.device=cpu",
            ]
        )
    )
    env = SimApp.get(spec).make_env(spec)
    try:
        policy = make_policy(spec.policy, env.spec)
        obs = env.reset(EpisodeSource(0, None))
        times = []
        with torch.inference_mode():
            policy._chunk(obs, None)  # warm-up
            for _ in range(max(10, 5 * repeats)):
                start = time.perf_counter()
                policy._chunk(obs, None)
                times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
