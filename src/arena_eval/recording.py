"""record_dataset=true: the job's finished episodes as a LeRobotDataset, written as they finish.

:class:`RecordingEnv` wraps the job's env (any backend) and sees what the rollout sees: the
observation an action was chosen on, the action the env received, and each step's result.
Frames are buffered per env; when an env's episode finishes (a record in the step's result,
so exactly the episodes that count in the metrics) its frames go through lerobot's own
``LeRobotDataset.add_frame`` / ``save_episode``, at the pace of the env. An episode still
running when the budget ends (or the job stops) is dropped. ``dataset.only_success`` keeps
successful episodes only.

One frame per control step: ``observation.*`` before the step, the ``action`` applied in it,
``next.reward`` / ``next.done`` / ``next.success`` after it (LeRobot's simulation convention),
so an episode of length L has L frames. Per-episode facts (our episode index and seed, env id,
object, success, outcome, length) go to ``meta/arena_eval_episodes.jsonl``, one line per
dataset episode, in dataset order, for trainers to filter with ``LeRobotDataset(episodes=...)``.
The root is ``<job folder>/<dataset.dir>``; nothing is pushed anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from arena_eval import lerobot_features as lf
from arena_eval.config import build_config
from arena_eval.envs.base import EnvSpec, EpisodeRecord, StepResult

log = logging.getLogger("arena_eval")

EPISODES_FILE = "meta/arena_eval_episodes.jsonl"


@dataclasses.dataclass
class DatasetSettings:
    """The ``dataset:`` block of conf/config.yaml (config.DatasetConfig), validated."""

    dir: str = "dataset"
    repo_id: str | None = None
    only_success: bool = True
    state_keys: list[str] | None = None
    env_state_keys: list[str] | None = None
    video: bool = True
    task: str | None = None


def check_dataset_config(dataset: dict[str, Any], distributed: Any) -> list[str]:
    """Config-time problems of record_dataset=true (before any simulator or lerobot import)."""
    errors = []
    missing = lf.lerobot_missing("record_dataset=true")
    if missing:
        errors.append(missing)
    if distributed and (not isinstance(distributed, dict) or distributed.get("enabled")):
        errors.append(
            "record_dataset=true writes one dataset from one process: run without torchrun"
        )
    try:
        build_config(_Holder, dataset, "dataset")
    except ValueError as err:
        errors.append(str(err))
    return errors


class _Holder:
    Config = DatasetSettings


class DatasetWriter:
    """Owns the LeRobotDataset: features from the env's spec, one ``save_episode`` per episode."""

    def __init__(
        self, root: Path, spec: EnvSpec, settings: DatasetSettings, task: str, fps: float
    ) -> None:
        # Quiet the encoder's banner and the datasets library's per-episode progress bars.
        os.environ.setdefault("SVT_LOG", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        logging.getLogger("lerobot").setLevel(logging.WARNING)
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        self.root = Path(root)
        self.settings = settings
        self.task = task
        self.spec = spec
        self.state_keys = list(settings.state_keys or lf.default_state_keys(spec))
        self.env_state_keys = list(settings.env_state_keys or [])
        problems = lf.check_keys(spec, self.state_keys, "dataset.state_keys")
        problems += lf.check_keys(spec, self.env_state_keys, "dataset.env_state_keys")
        if problems:
            from arena_eval.config import ConfigError

            raise ConfigError("record_dataset=true:\n  - " + "\n  - ".join(problems))
        self.cameras = lf.image_keys(spec)
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"dataset folder {self.root} exists and is not empty")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        repo_id = settings.repo_id or f"arena-eval/{spec.task}_{spec.embodiment}"
        self.dataset = LeRobotDataset.create(
            repo_id=repo_id,
            fps=round(fps),
            features=self.features(),
            root=self.root,
            robot_type=spec.embodiment,
            use_videos=settings.video,
            # Frames go straight to the encoder (no PNG round trip), in encoder threads.
            streaming_encoding=bool(self.cameras) and settings.video,
        )
        self.episodes: list[dict[str, Any]] = []
        self.frames_written = 0
        self.write_s = 0.0
        self.skipped = 0
        self._finalized = False
        self._meta_lines = (self.root / EPISODES_FILE).open("w")

    def features(self) -> dict[str, dict[str, Any]]:
        spec = self.spec
        features = {
            lf.STATE: {
                "dtype": "float32",
                "shape": (lf.state_size(spec, self.state_keys),),
                "names": lf.state_names(spec, self.state_keys),
            },
        }
        if self.env_state_keys:
            features[lf.ENV_STATE] = {
                "dtype": "float32",
                "shape": (lf.state_size(spec, self.env_state_keys),),
                "names": lf.state_names(spec, self.env_state_keys),
            }
        kind = "video" if self.settings.video else "image"
        for key in self.cameras:
            features[lf.camera_feature(key)] = {
                "dtype": kind,
                "shape": tuple(spec.observations[key].shape),
                "names": ["height", "width", "channels"],
            }
        features["action"] = {
            "dtype": "float32",
            "shape": (spec.action_dim,),
            "names": list(spec.action_names),
        }
        features["next.reward"] = {"dtype": "float32", "shape": (1,), "names": None}
        features["next.done"] = {"dtype": "bool", "shape": (1,), "names": None}
        features["next.success"] = {"dtype": "bool", "shape": (1,), "names": None}
        return features

    def write(self, record: EpisodeRecord, frames: list[dict[str, np.ndarray]]) -> None:
        """Write one finished episode (unless only successes are kept and it failed)."""
        if self.settings.only_success and not record.success:
            self.skipped += 1
            return
        start = time.perf_counter()
        last = len(frames) - 1
        for i, frame in enumerate(frames):
            done = i == last
            frame["next.reward"] = np.array([float(done and record.success)], dtype=np.float32)
            frame["next.done"] = np.array([done])
            frame["next.success"] = np.array([done and record.success])
            frame["task"] = self.task
            self.dataset.add_frame(frame)
        self.dataset.save_episode()
        entry = {
            "dataset_episode": len(self.episodes),
            "episode_index": record.episode_index,
            "seed": record.seed,
            "env_id": record.env_id,
            "object": record.object,
            "success": record.success,
            "outcome": record.outcome,
            "length": record.length,
            "frames": len(frames),
        }
        if record.variations:  # the episode's drawn variation values, as in episodes.csv
            entry["variations"] = dict(record.variations)
        self.episodes.append(entry)
        self._meta_lines.write(json.dumps(entry) + "\n")
        self._meta_lines.flush()
        self.frames_written += len(frames)
        self.write_s += time.perf_counter() - start

    def close(self) -> dict[str, Any]:
        """Finish the dataset (lerobot's ``finalize``); return its summary for results.json."""
        if not self._finalized:
            self._finalized = True
            self._meta_lines.close()
            start = time.perf_counter()
            self.dataset.finalize()
            self.write_s += time.perf_counter() - start
        return {
            "root": str(self.root),
            "repo_id": self.dataset.repo_id,
            "episodes": len(self.episodes),
            "frames": self.frames_written,
            "skipped_failures": self.skipped,
            "state_keys": self.state_keys,
            "env_state_keys": self.env_state_keys,
            "cameras": [lf.camera_feature(k) for k in self.cameras],
            "task": self.task,
            "write_s": self.write_s,
        }


class RecordingEnv:
    """The job's env, seen through: every step's frames are buffered per env and handed to the
    writer when that env's episode finishes. Everything else is the wrapped env's."""

    def __init__(self, env, writer: DatasetWriter) -> None:
        self.env = env
        self.writer = writer
        self.spec = env.spec
        n = env.spec.num_envs
        self._frames: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n)]
        self._running = np.zeros(n, dtype=bool)
        self._obs: dict[str, np.ndarray] | None = None
        w = writer
        self._groups = [(lf.STATE, w.state_keys)]
        if w.env_state_keys:
            self._groups.append((lf.ENV_STATE, w.env_state_keys))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self, episodes) -> dict[str, np.ndarray]:
        obs = self.env.reset(episodes)
        active = getattr(self.env, "active", None)
        self._running[:] = True if active is None else np.asarray(active, dtype=bool)
        for frames in self._frames:
            frames.clear()
        self._obs = obs
        return obs

    def step(self, actions: np.ndarray) -> StepResult:
        obs, running = self._obs, np.flatnonzero(self._running)
        result = self.env.step(actions)
        if running.size:
            rows = self._rows(obs, np.asarray(actions, dtype=np.float32), running)
            for env_id, row in zip(running, rows, strict=True):
                self._frames[env_id].append(row)
        for record in result.episodes:
            frames = self._frames[record.env_id]
            if len(frames) != record.length:  # the record is the truth; keep its last steps
                frames = frames[-record.length :]
            self.writer.write(record, frames)
            self._frames[record.env_id] = []
            self._running[record.env_id] = False
        self._running[result.reset_env_ids] = True
        self._obs = result.obs
        return result

    def _rows(self, obs, actions: np.ndarray, env_ids: np.ndarray) -> list[dict[str, np.ndarray]]:
        """One frame dict per env in ``env_ids`` (copies: the env reuses its buffers)."""
        sub = {k: obs[k][env_ids] for k in {k for _, keys in self._groups for k in keys}}
        blocks = {name: lf.concat(sub, keys) for name, keys in self._groups}
        rows = []
        for j, env_id in enumerate(env_ids):
            row = {name: block[j] for name, block in blocks.items()}
            for key in self.writer.cameras:
                row[lf.camera_feature(key)] = np.array(obs[key][env_id])
            row["action"] = actions[env_id].copy()
            rows.append(row)
        return rows

    def unwrapped(self):
        return self.env


def make_recorder(job, env, out_dir: Path) -> tuple[RecordingEnv, DatasetWriter]:
    """The writer for ``job`` (its ``dataset`` settings) and the env that feeds it."""
    settings = build_config(_Holder, job.dataset, "dataset")
    task = settings.task or job.language_instruction or job.task.replace("_", " ")
    writer = DatasetWriter(out_dir / settings.dir, env.spec, settings, task, job.control_hz)
    return RecordingEnv(env, writer), writer
