"""Cameras (enable_cameras) and per-episode videos (record_video), rendered offscreen on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import ConfigError, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.results import read_episodes

SMALL = ("cameras.width=64", "cameras.height=48")  # small images keep the tests fast


def make_env(make_cfg, *overrides: str):
    job = validate(make_cfg(*overrides))
    return job, SimApp.get(job).make_env(job)


def test_camera_observations_are_declared_and_rendered(make_cfg) -> None:
    job, env = make_env(make_cfg, "enable_cameras=true", "num_envs=2", *SMALL)
    try:
        spec = env.spec.observations
        for key in ("image_front", "image_wrist"):  # the default: front + the Franka's wrist
            assert spec[key].shape == (48, 64, 3) and spec[key].dtype == "uint8"
        obs = env.reset(EpisodeSource(job.seed, None))
        for key in ("image_front", "image_wrist"):
            assert obs[key].shape == (2, 48, 64, 3) and obs[key].dtype == np.uint8
            assert obs[key].std() > 5  # a scene, not a blank frame
        assert not np.array_equal(obs["image_front"], obs["image_wrist"])
        # The arm moves (joint targets far from home): both views must change.
        actions = np.tile(np.asarray(env.spec.action_high, dtype=np.float32), (2, 1))
        for _ in range(15):
            later = env.step(actions).obs
        for key in ("image_front", "image_wrist"):
            diff = np.abs(later[key].astype(int) - obs[key].astype(int)).mean()
            assert diff > 1.0, f"{key} did not change when the arm moved"
    finally:
        env.close()


def test_camera_names_size_and_validation(make_cfg) -> None:
    _, env = make_env(make_cfg, "enable_cameras=true", "num_envs=1", "cameras.names=[front]")
    try:
        images = [k for k in env.spec.observations if k.startswith("image_")]
        assert images == ["image_front"]
        assert env.spec.observations["image_front"].shape == (224, 224, 3)  # the default size
    finally:
        env.close()
    with pytest.raises(ConfigError, match="valid cameras: front, robotview, wrist"):
        make_env(make_cfg, "enable_cameras=true", "cameras.names=[front,nose]")
    with pytest.raises(ConfigError, match=r"(?s)cameras.quality.*cameras.video_envs"):
        validate(make_cfg("cameras.quality=ultra", "cameras.video_envs=[9]"))


def test_cameras_off_renders_nothing(make_cfg, monkeypatch) -> None:
    import mujoco

    def no_renderer(*args, **kwargs):
        raise AssertionError("a renderer was created with enable_cameras=false")

    monkeypatch.setattr(mujoco, "Renderer", no_renderer)
    job, env = make_env(make_cfg, "num_envs=2")
    try:
        assert not env.renderers and env.recorder is None
        obs = env.reset(EpisodeSource(job.seed, None))
        obs = env.step(np.zeros((2, env.spec.action_dim), dtype=np.float32)).obs
        assert not any(k.startswith("image_") for k in (*obs, *env.spec.observations))
        assert env.images_rendered == 0
    finally:
        env.close()


def test_record_video_writes_one_mp4_per_episode(make_cfg, tmp_path: Path) -> None:
    import imageio.v2 as imageio

    from arena_eval.job import run_job

    cfg = make_cfg(
        "record_video=true",
        "policy=scripted",
        "num_envs=2",
        "length.n=3",
        "length.fixed=true",
        *SMALL,
    )
    result = run_job(cfg, tmp_path, show=False)
    results = json.loads((tmp_path / "results.json").read_text())
    episodes = {int(r["episode_index"]): r for r in read_episodes(tmp_path / "episodes.csv")}
    assert len(episodes) == 3
    on_disk = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "videos").iterdir())
    assert results["videos"] == result.results["videos"] == on_disk  # no leftover partial file
    assert len(on_disk) == 3
    assert results["timing"]["images_rendered"] > 0
    for name in on_disk:
        index, env_id, outcome = Path(name).stem.removeprefix("ep").split("_")
        row = episodes[int(index)]
        assert env_id == f"env{row['env_id']}" and outcome == row["outcome"]
        reader = imageio.get_reader(tmp_path / name)
        try:
            # The reset frame, then one frame per step: length + 1 frames.
            assert reader.count_frames() == int(row["length"]) + 1
            frame = reader.get_data(0)
            assert frame.shape == (48, 2 * 64, 3)  # front | wrist, side by side
        finally:
            reader.close()


def test_unfinished_episodes_leave_no_video(make_cfg, tmp_path: Path) -> None:
    from arena_eval.job import run_job

    cfg = make_cfg(
        "record_video=true",
        "cameras.names=[front]",
        "cameras.video_envs=[1]",
        "num_envs=2",
        "length=steps",
        "length.n=5",
        "length.fixed=true",
        *SMALL,
    )
    run_job(cfg, tmp_path, show=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["videos"] == []  # 5 steps: no episode finished, none counts
    assert not list((tmp_path / "videos").iterdir())
