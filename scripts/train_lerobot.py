"""Train a LeRobot policy (a small ACT by default) on a dataset that record_dataset=true wrote.

Runs in .venv-lerobot (``make setup-lerobot``). The training is lerobot's own ``lerobot-train``;
this script only (1) records the expert demonstrations first when the dataset folder does not
exist yet, (2) picks the successful episodes from ``meta/arena_eval_episodes.jsonl`` and (3)
builds the ``lerobot-train`` command line for a CPU-sized ACT, which it prints and runs:

    .venv-lerobot/bin/python scripts/train_lerobot.py                 # record 200 + train
    .venv-lerobot/bin/python scripts/train_lerobot.py --steps 500 --output /tmp/act
    .venv-lerobot/bin/python scripts/train_lerobot.py -- --policy.dim_model=256   # more flags

The demonstrations split the state the way ACT wants it: the robot in ``observation.state``
(``ROBOT_KEYS``), the object in ``observation.environment_state`` (``OBJECT_KEYS``); the policy
config ``conf/policy/lerobot_act_lift_object.yaml`` maps them back. Demonstrations use episode
seeds of ``--seed`` (1); evaluations use ``seed=0``, so evaluated episodes are new ones.
The checkpoint is ``<output>/checkpoints/last/pretrained_model``, evaluated with
``arena-eval policy=lerobot policy.path=...`` (or ``policy=lerobot_act_lift_object``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROBOT_KEYS = ("joint_pos", "joint_vel", "ee_pos", "ee_quat", "gripper_opening")
OBJECT_KEYS = ("object_pos", "object_quat", "object_size")
DEFAULT_DATASET = Path("outputs/datasets/lift_object_franka_ik")
DEFAULT_OUTPUT = Path("outputs/train/lerobot_act_lift_object")
# A CPU-sized ACT: ~0.18 M parameters instead of the default ~50 M (dim 512, 4 + 4 layers);
# on 2 shared cores one update of 32 samples takes ~0.1 s, loading them ~0.3 s.
ACT_FLAGS = (
    "--policy.type=act",
    "--policy.dim_model=64",
    "--policy.n_heads=4",
    "--policy.dim_feedforward=256",
    "--policy.n_encoder_layers=1",
    "--policy.n_vae_encoder_layers=1",
    "--policy.latent_dim=16",
    "--policy.chunk_size=20",
    "--policy.n_action_steps=10",
    "--policy.optimizer_lr=3e-4",
    "--policy.pretrained_backbone_weights=null",  # nothing is downloaded
)


def record(dataset: Path, args: argparse.Namespace) -> None:
    """The scripted expert's episodes as a LeRobotDataset at ``dataset``."""
    bin_dir = Path(sys.executable).parent
    cmd = [
        str(bin_dir / "arena-eval"),
        f"env={args.env}",
        f"embodiment={args.embodiment}",
        f"object={args.object}",
        "policy=scripted",
        f"num_envs={args.num_envs}",
        f"length.n={args.record}",
        f"seed={args.seed}",
        "record_dataset=true",
        f"dataset.state_keys=[{','.join(ROBOT_KEYS)}]",
        f"dataset.env_state_keys=[{','.join(OBJECT_KEYS)}]",
        f"dataset.dir={dataset.resolve()}",
        f"hydra.run.dir={dataset.resolve()}_job",
        "progress=false",
    ]
    print("recording:", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def successful_episodes(dataset: Path) -> tuple[list[int], int]:
    lines = (dataset / "meta/arena_eval_episodes.jsonl").read_text().splitlines()
    episodes = [json.loads(line) for line in lines if line.strip()]
    return [e["dataset_episode"] for e in episodes if e["success"]], len(episodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--record", type=int, default=200, help="episodes to record if missing")
    parser.add_argument("--env", default="lift_object")
    parser.add_argument("--embodiment", default="franka_ik")
    parser.add_argument("--object", default="cracker_box")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1, help="demonstrations' run seed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--num-workers", type=int, default=1, help="data loading processes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("extra", nargs="*", help="more lerobot-train flags, after --")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if not (args.dataset / "meta/info.json").is_file():
        record(args.dataset, args)
    info = json.loads((args.dataset / "meta/info.json").read_text())
    keep, total = successful_episodes(args.dataset)
    if not keep:
        print(f"error: {args.dataset} holds no successful episode", file=sys.stderr)
        return 1
    cmd = [
        str(Path(sys.executable).parent / "lerobot-train"),
        f"--dataset.repo_id={info.get('repo_id') or 'arena-eval/' + args.dataset.name}",
        f"--dataset.root={args.dataset.resolve()}",
        *ACT_FLAGS,
        f"--policy.device={args.device}",
        "--policy.push_to_hub=false",
        f"--output_dir={args.output}",
        f"--job_name={args.output.name}",
        f"--steps={args.steps}",
        f"--batch_size={args.batch_size}",
        f"--save_freq={args.steps}",
        f"--log_freq={max(1, args.steps // 20)}",
        f"--num_workers={args.num_workers}",  # one loader overlaps loading with the updates
        "--wandb.enable=false",
        "--seed=1000",
        *args.extra,
    ]
    if len(keep) < total:
        cmd.insert(3, f"--dataset.episodes=[{','.join(map(str, keep))}]")
    print(f"training on {len(keep)} of {total} episodes:", shlex.join(cmd), flush=True)
    train_start = time.perf_counter()
    subprocess.run(cmd, check=True)
    done = time.perf_counter()
    model = args.output / "checkpoints/last/pretrained_model"
    print(
        f"trained in {done - train_start:.0f} s ({done - start:.0f} s in all): {model}\n"
        f"evaluate: arena-eval policy=lerobot policy.path={model} "
        f"'policy.inputs={{observation.state:[{','.join(ROBOT_KEYS)}],"
        f"observation.environment_state:[{','.join(OBJECT_KEYS)}]}}' env={args.env} length.n=20"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
