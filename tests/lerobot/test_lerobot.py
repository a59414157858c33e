"""record_dataset=true and policy=lerobot against the real lerobot 0.6.1 (no mocks).

Datasets are read back with ``LeRobotDataset(root=...)``; checkpoints are tiny ACTs built with
lerobot's own config classes and saved with ``save_pretrained`` (tests/lerobot/checkpoints.py).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.job import run_job
from arena_eval.policies.base import PolicyError, make_policy
from tests.lerobot.checkpoints import tiny_act, tiny_diffusion

ROBOT = "[joint_pos,joint_vel,ee_pos,ee_quat,gripper_opening]"
OBJECT = "[object_pos,object_quat,object_size]"
ROBOT_SIZE, OBJECT_SIZE = 26, 10
# The expert lifts in 80-84 steps; a 82-step limit makes some episodes time out.
MIXED = ("env.task.episode_length_s=1.64",)


def load(root: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("arena-eval/test", root=root)  # the root decides; the id is a label


def episodes_csv(job_dir: Path) -> list[dict[str, str]]:
    with (job_dir / "episodes.csv").open() as f:
        return list(csv.DictReader(f))


def sidecar(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "meta/arena_eval_episodes.jsonl").open()]


def test_record_load_and_match_episodes(make_cfg, tmp_path) -> None:
    cfg = make_cfg(
        "policy=scripted", "length.n=6", "record_dataset=true", "dataset.only_success=false",
        f"dataset.state_keys={ROBOT}", f"dataset.env_state_keys={OBJECT}", *MIXED,
    )  # fmt: skip
    result = run_job(cfg, output_dir=tmp_path, show=False)
    rows = episodes_csv(tmp_path)
    assert len(rows) == 6 and {r["outcome"] for r in rows} == {"success", "timeout"}
    ds = load(tmp_path / "dataset")
    assert ds.num_episodes == 6 and result.results["dataset"]["episodes"] == 6
    meta = sidecar(tmp_path / "dataset")
    by_index = {int(r["episode_index"]): r for r in rows}
    lengths = [int(n) for n in ds.meta.episodes["length"]]
    for entry, length in zip(meta, lengths, strict=True):
        row = by_index[entry["episode_index"]]
        assert length == entry["frames"] == int(row["length"])  # one frame per step
        assert entry["success"] == (row["success"] == "1")
        assert entry["outcome"] == row["outcome"] and entry["seed"] == int(row["seed"])
    assert ds.num_frames == sum(int(r["length"]) for r in rows)
    features = ds.meta.features
    assert features["observation.state"]["shape"] == (ROBOT_SIZE,)
    assert features["observation.state"]["names"][:2] == ["joint_pos.0", "joint_pos.1"]
    assert "ee_quat.w" in features["observation.state"]["names"]
    assert features["observation.environment_state"]["shape"] == (OBJECT_SIZE,)
    assert features["action"]["names"] == ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"]
    frame = ds[0]
    assert frame["observation.state"].shape == (ROBOT_SIZE,) and frame["action"].shape == (7,)
    assert frame["task"] == "lift object"
    # next.success marks the last frame of each successful episode, nothing else.
    success = np.asarray(ds.hf_dataset["next.success"], dtype=bool)
    done = np.asarray(ds.hf_dataset["next.done"], dtype=bool)
    assert done.sum() == 6 and success.sum() == sum(e["success"] for e in meta)
    assert np.all(done[np.cumsum(lengths) - 1])


def test_only_success_and_exact_counting(make_cfg, tmp_path) -> None:
    """Failures are skipped; envs still running when the budget is met write nothing."""
    cfg = make_cfg("policy=scripted", "num_envs=4", "length.n=5", "record_dataset=true", *MIXED)
    result = run_job(cfg, output_dir=tmp_path, show=False)
    rows = episodes_csv(tmp_path)
    wins = [r for r in rows if r["success"] == "1"]
    ds = load(tmp_path / "dataset")
    assert len(rows) == 5 and ds.num_episodes == len(wins) > 0
    info = result.results["dataset"]
    assert info["skipped_failures"] == 5 - len(wins)
    assert sorted(e["episode_index"] for e in sidecar(tmp_path / "dataset")) == sorted(
        int(r["episode_index"]) for r in wins
    )
    # Default state: every non-image observation; no environment state.
    assert "observation.environment_state" not in ds.meta.features
    assert info["state_keys"][0] == "joint_pos" and "object_pos" in info["state_keys"]


def test_cameras_become_videos_that_decode(make_cfg, tmp_path) -> None:
    cfg = make_cfg(
        "policy=scripted", "num_envs=2", "length.n=2", "record_dataset=true",
        "enable_cameras=true", "cameras.names=[front,wrist]", "cameras.width=64",
        "cameras.height=48",
    )  # fmt: skip
    run_job(cfg, output_dir=tmp_path, show=False)
    ds = load(tmp_path / "dataset")
    assert ds.meta.video_keys == ["observation.images.front", "observation.images.wrist"]
    for index in (0, ds.num_frames - 1):
        frame = ds[index]
        for key in ds.meta.video_keys:
            image = frame[key]
            assert tuple(image.shape) == (3, 48, 64)
            assert float(image.std()) > 0.02  # a scene, not a blank frame


def test_object_set_names_each_episode(make_cfg, tmp_path) -> None:
    cfg = make_cfg(
        "policy=scripted", "num_envs=2", "length.n=2", "record_dataset=true",
        "object_set=[cracker_box,sugar_box]",
    )  # fmt: skip
    run_job(cfg, output_dir=tmp_path, show=False)
    objects = {int(r["episode_index"]): r["object"] for r in episodes_csv(tmp_path)}
    meta = sidecar(tmp_path / "dataset")
    assert {e["object"] for e in meta} == {"cracker_box", "sugar_box"}
    assert all(objects[e["episode_index"]] == e["object"] for e in meta)


def test_variation_values_travel_with_each_episode(make_cfg, tmp_path) -> None:
    cfg = make_cfg(
        "policy=scripted", "num_envs=2", "length.n=3", "record_dataset=true",
        "dataset.only_success=false", "variations=[object_pose,object_mass]",
    )  # fmt: skip
    run_job(cfg, output_dir=tmp_path, show=False)
    rows = {int(r["episode_index"]): r for r in episodes_csv(tmp_path)}
    meta = sidecar(tmp_path / "dataset")
    assert len(meta) == 3
    for entry in meta:
        row = rows[entry["episode_index"]]
        assert set(entry["variations"]) == {
            "object_pose.x", "object_pose.y", "object_pose.yaw", "object_mass.scale"
        }  # fmt: skip
        for key, value in entry["variations"].items():
            assert float(row[f"var.{key}"]) == value  # the same draw, to the last digit


def test_humanoid_joint_space_records(make_cfg, tmp_path) -> None:
    """Another embodiment: the actions written are the env's own (joint targets)."""
    cfg = make_cfg(
        "env=open_microwave", "embodiment=g1_joint", "policy=zero_action", "num_envs=2",
        "length=steps", "length.n=260", "record_dataset=true", "dataset.only_success=false",
    )  # fmt: skip
    result = run_job(cfg, output_dir=tmp_path, show=False)
    ds = load(tmp_path / "dataset")
    assert ds.num_episodes == len(episodes_csv(tmp_path)) == 2  # in-flight ones dropped
    assert ds.meta.features["action"]["shape"] == (12,)
    assert result.results["dataset"]["frames"] == ds.num_frames == 2 * 250


# -- policy=lerobot -------------------------------------------------------------------------
ACT_INPUTS = f"policy.inputs={{observation.state:{ROBOT},observation.environment_state:{OBJECT}}}"


def test_tiny_act_evaluates_end_to_end(make_cfg, tmp_path) -> None:
    path = tiny_act(
        tmp_path / "act", ROBOT_SIZE, 7, env_state=OBJECT_SIZE, images={"front": (48, 64)}
    )
    cfg = make_cfg(
        "policy=lerobot", f"policy.path={path}", ACT_INPUTS, "policy.device=cpu",
        "enable_cameras=true", "cameras.names=[front]", "cameras.width=64",
        "cameras.height=48", "length=steps", "length.n=20",
    )  # fmt: skip
    result = run_job(cfg, output_dir=tmp_path / "job", show=False)
    stats = result.results["timing"]["policy_stats"]
    assert result.status == "completed" and stats["type"] == "act"
    assert stats["chunk_length"] == 8 and stats["infer_calls"] == 3  # 20 steps, chunks of 8


def test_mismatched_checkpoint_lists_the_differences(make_cfg, tmp_path) -> None:
    path = tiny_act(tmp_path / "act", 5, 6, images={"top": (48, 64)})
    job = validate(make_cfg("policy=lerobot", f"policy.path={path}"))
    env = SimApp.get(job).make_env(job)
    try:
        with pytest.raises(PolicyError) as err:
            make_policy(job.policy, env.spec)
    finally:
        env.close()
    text = str(err.value)
    assert "observation.state (5,)" in text and "make (39,) here" in text
    assert "no image 'image_top'" in text and "enable_cameras=true" in text
    assert "action (6,): franka_ik takes 7" in text
    assert "the checkpoint wants:" in text and "the env has: joint_pos (9,)" in text


def test_per_env_chunks_survive_other_envs_resets(make_cfg, tmp_path) -> None:
    path = tiny_act(tmp_path / "act", ROBOT_SIZE, 7, env_state=OBJECT_SIZE, n_action_steps=6)
    cfg = make_cfg("policy=lerobot", f"policy.path={path}", ACT_INPUTS, "policy.device=cpu")
    job = validate(cfg)
    env = SimApp.get(job).make_env(job)
    try:
        from arena_eval.envs.base import EpisodeSource

        policy = make_policy(job.policy, env.spec)
        first = env.reset(EpisodeSource(0, None))
        later = env.step(np.zeros((4, 7))).obs  # other observations: another chunk
    finally:
        env.close()
    low, high = np.asarray(env.spec.action_low), np.asarray(env.spec.action_high)
    chunk_a = np.clip(policy._chunk(first, None), low, high)
    chunk_b = np.clip(policy._chunk(later, None), low, high)
    assert not np.allclose(chunk_a, chunk_b)
    played = [policy.get_action(first) for _ in range(3)]
    for k, action in enumerate(played):
        np.testing.assert_allclose(action, chunk_a[:, k], rtol=1e-5, atol=1e-6)
    policy.reset(np.array([1]))  # env 1 starts a new episode mid-chunk
    action = policy.get_action(later)
    np.testing.assert_allclose(action[1], chunk_b[1, 0], rtol=1e-5, atol=1e-6)
    for env_id in (0, 2, 3):  # the others keep playing their chunk
        np.testing.assert_allclose(action[env_id], chunk_a[env_id, 3], rtol=1e-5, atol=1e-6)
    assert policy.stats()["envs_per_call_mean"] == 2.5  # one call for 4 envs, one for env 1


def test_diffusion_keeps_each_envs_observation_history(make_cfg, tmp_path) -> None:
    path = tiny_diffusion(tmp_path / "diffusion", ROBOT_SIZE, 7, OBJECT_SIZE)
    cfg = make_cfg("policy=lerobot", f"policy.path={path}", ACT_INPUTS, "policy.device=cpu")
    job = validate(cfg)
    env = SimApp.get(job).make_env(job)
    try:
        from arena_eval.envs.base import EpisodeSource

        policy = make_policy(job.policy, env.spec)
        first = env.reset(EpisodeSource(0, None))
        action = policy.get_action(first)
        state = policy._history["observation.state"]
        assert state.shape == (4, 2, ROBOT_SIZE)  # [envs, n_obs_steps, state]
        np.testing.assert_array_equal(state[:, 0], state[:, 1])  # started from copies
        second = env.step(action).obs
        policy.reset(np.array([2]))
        policy.get_action(second)
        state = policy._history["observation.state"]
        assert not np.array_equal(state[0, 0], state[0, 1])  # two different observations
        np.testing.assert_array_equal(state[2, 0], state[2, 1])  # env 2 starts over
    finally:
        env.close()
    assert policy.chunk_length == 4 and policy.stats()["infer_calls"] == 2


def test_missing_path_and_wrong_folder(make_cfg, tmp_path) -> None:
    job = validate(make_cfg("policy=lerobot", f"policy.path={tmp_path}"))
    env = SimApp.get(job).make_env(job)
    try:
        with pytest.raises(PolicyError, match=r"no LeRobot config\.json"):
            make_policy(job.policy, env.spec)
    finally:
        env.close()


@pytest.mark.slow
def test_whole_loop_record_train_evaluate(tmp_path) -> None:
    """Record expert episodes, train an ACT with lerobot-train, evaluate the checkpoint."""
    dataset, output = tmp_path / "dataset", tmp_path / "train"
    script = Path(__file__).parents[2] / "scripts/train_lerobot.py"
    subprocess.run(
        [sys.executable, str(script), "--dataset", str(dataset), "--record", "6",
         "--num-envs", "3", "--output", str(output), "--steps", "200", "--batch-size", "16"],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    model = output / "checkpoints/last/pretrained_model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "arena-eval"), "policy=lerobot", f"policy.path={model}", ACT_INPUTS,
         "num_envs=2", "length.n=2", "progress=false", f"hydra.run.dir={tmp_path / 'eval'}"],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    results = json.loads((tmp_path / "eval/results.json").read_text())
    assert results["status"] == "completed" and results["metrics"]["num_episodes"] == 2
