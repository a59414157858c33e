"""Per-episode mp4 videos from camera observations (record_video=true).

The env hands every rendered frame to a :class:`VideoRecorder` (``add``) and every finished
episode's record (``finish``). Frames are streamed to one ffmpeg writer per running episode
(imageio with the ffmpeg binary of the imageio-ffmpeg wheel), so memory does not grow with
episode length. Several cameras are tiled side by side in the order of ``cameras.names``.

A video has ``length + 1`` frames: the reset frame, then one per control step (the last one
shows the state that ended the episode). It is written under a temporary name and renamed
``ep<index>_env<id>_<outcome>.mp4`` (outcome: success, failure or timeout) when its episode
finishes; episodes that never finish (a steps-length run, an interrupted job) are deleted, so
only episodes that count in the metrics have videos.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from arena_eval.envs.base import EpisodeRecord


class VideoRecorder:
    def __init__(
        self,
        folder: Path,
        fps: float,
        env_ids: tuple[int, ...] | None = None,
        relative_to: Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.fps = fps
        self.env_ids = None if env_ids is None else frozenset(env_ids)
        self.relative_to = relative_to
        self.files: list[str] = []  # finished videos, as listed in results.json
        self._open: dict[int, tuple[int, Path, object]] = {}  # env -> (episode, temp path, writer)

    def add(self, env_id: int, episode_index: int, frames: list[np.ndarray]) -> None:
        if self.env_ids is not None and env_id not in self.env_ids:
            return
        entry = self._open.get(env_id)
        if entry is not None and entry[0] != episode_index:  # an episode we never saw end
            self._abort(env_id)
            entry = None
        if entry is None:
            entry = self._start(env_id, episode_index)
        frame = frames[0] if len(frames) == 1 else np.concatenate(frames, axis=1)
        entry[2].append_data(frame)

    def record(self, env_ids, episode_index, obs: dict, image_keys, finished=()) -> None:
        """An env's step: the frames of ``env_ids`` (their ``image_keys`` side by side, from
        ``obs``; ``episode_index`` per env), then the end of the episodes ``finished``."""
        for env_id in env_ids:
            i = int(env_id)
            self.add(i, int(episode_index[i]), [obs[k][i] for k in image_keys])
        for record in finished:
            self.finish(record)

    def finish(self, record: EpisodeRecord) -> None:
        entry = self._open.pop(record.env_id, None)
        if entry is None:
            return
        episode, tmp, writer = entry
        writer.close()
        final = tmp.with_name(f"ep{episode:04d}_env{record.env_id}_{record.outcome}.mp4")
        tmp.replace(final)
        base = self.relative_to
        self.files.append(str(final.relative_to(base)) if base else str(final))

    def close(self) -> list[str]:
        """Drop the videos of unfinished episodes; return the finished ones, sorted."""
        for env_id in list(self._open):
            self._abort(env_id)
        self.files.sort()
        return self.files

    def _start(self, env_id: int, episode_index: int):
        import imageio.v2 as imageio

        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".ep{episode_index:04d}_env{env_id}.partial.mp4"
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=self.fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=2,  # even sizes are kept as they are (yuv420p needs even sizes)
            ffmpeg_log_level="error",
            # One encoder thread per episode: several writers share the cores with the sims.
            output_params=["-preset", "veryfast", "-threads", "1"],
        )
        self._open[env_id] = entry = (episode_index, tmp, writer)
        return entry

    def _abort(self, env_id: int) -> None:
        _, tmp, writer = self._open.pop(env_id)
        with contextlib.suppress(Exception):
            writer.close()
        tmp.unlink(missing_ok=True)
