"""policy=gr00t: action chunks from an Isaac-GR00T inference server (N1.5 or N1.6), unmodified.

On connect: ``ping``, then ``get_modality_config``, which tells the version and names the
server's video, state, action and language keys and its action horizon. The mapping onto the
embodiment is declared in ``conf/policy/gr00t.yaml``: GR00T state group -> our joint group (a
slice of ``joint_pos``), GR00T action group -> our action group, the camera whose image is the
ego view, its size. It is checked against both sides before the first step; every mismatch is
listed. Each step, one batched ``get_action`` asks for a chunk for every env whose chunk ran out
(all envs at the start, an env alone after its reset); ``action_chunk_length`` steps of each
chunk are played.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena_eval.envs.base import EnvSpec
from arena_eval.policies.base import Policy, PolicyError, register_policy
from arena_eval.remote import ActionChunkBroker, ServerUnavailable
from arena_eval.remote.gr00t import Gr00tClient, Gr00tError, Modality

log = logging.getLogger(__name__)

GROUPS = {
    "left_arm": "left_arm",
    "right_arm": "right_arm",
    "left_hand": "left_hand",
    "right_hand": "right_hand",
    "waist": "waist",
}


def fit_image(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``[B, H, W, 3]`` uint8 images to ``size`` (H, W) keeping the aspect ratio, padding
    the rest with black (nearest-neighbour: cheap, and exact when the sizes divide)."""
    b, h, w, c = images.shape
    th, tw = size
    if (h, w) == (th, tw):
        return images
    scale = min(th / h, tw / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    rows = np.minimum((np.arange(nh) + 0.5) / scale, h - 1).astype(np.int64)
    cols = np.minimum((np.arange(nw) + 0.5) / scale, w - 1).astype(np.int64)
    out = np.zeros((b, th, tw, c), dtype=images.dtype)
    top, left = (th - nh) // 2, (tw - nw) // 2
    out[:, top : top + nh, left : left + nw] = images[:, rows][:, :, cols]
    return out


def _match(kind, server_keys, mapping, ours, spec: EnvSpec, problems: list[str]) -> dict:
    """Server group -> the slice of our group it maps to; a problem for each that has none."""
    slices = {}
    for key in server_keys:
        name = mapping.get(key)
        if name in ours:
            slices[key] = slice(*ours[name])
        else:
            problems.append(
                f"server {kind} {key!r} has no {kind} group here (policy.{kind} maps to "
                f"{name!r}; {spec.embodiment} has {sorted(ours)})"
            )
    return slices


@register_policy("gr00t")
class Gr00tPolicy(Policy):
    @dataclasses.dataclass
    class Config:
        host: str = "127.0.0.1"
        port: int = 5555
        endpoint: str | None = None  # tcp://host:port; overrides host/port
        timeout_s: float = 10.0  # longest wait for one reply (GR00T servers set none)
        retry_attempts: int = 3
        retry_budget_s: float = 30.0
        api_token: str | None = None  # sent with every request when set; never logged
        camera: str = "head"  # our image_<camera> observation becomes the ego view
        image_size: tuple[int, int] = (256, 256)  # (H, W): Arena's target_image_size
        action_chunk_length: int = 16  # steps played from each chunk (<= the server's horizon)
        video_key: str = "ego_view"
        language_key: str = "annotation.human.action.task_description"
        instruction: str | None = None  # else language_instruction, else the env's name
        state: dict[str, str] = dataclasses.field(default_factory=lambda: dict(GROUPS))
        action: dict[str, str] = dataclasses.field(default_factory=lambda: dict(GROUPS))

    def __init__(self, config: Config, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        self.endpoint = config.endpoint or f"tcp://{config.host}:{config.port}"
        self.image_key = f"image_{config.camera}"
        self._check_env(spec)
        self.client = Gr00tClient(
            self.endpoint,
            timeout_s=config.timeout_s,
            retry_attempts=config.retry_attempts,
            retry_budget_s=config.retry_budget_s,
            api_token=config.api_token,
        )
        try:
            self.client.call("ping")
            self.modality = Modality.parse(self.client.call("get_modality_config"))
        except ServerUnavailable as err:
            self.client.close()
            raise PolicyError(f"policy=gr00t: {err}") from None
        except Gr00tError as err:
            self.client.close()
            raise PolicyError(f"policy=gr00t: {err}") from None
        self._plan(spec)
        self.chunk_length = min(config.action_chunk_length, self.modality.horizon)
        self._broker = ActionChunkBroker(spec.num_envs, spec.action_dim)
        self.instruction = config.instruction or spec.task.replace("_", " ")
        self._roundtrip_s: list[float] = []
        self._envs_per_call: list[int] = []
        log.info(
            "GR00T %s at %s: horizon %d, playing %d a chunk",
            self.modality.version, self.endpoint, self.modality.horizon, self.chunk_length,
        )  # fmt: skip

    # -- checks --------------------------------------------------------------------------
    def _check_env(self, spec: EnvSpec) -> None:
        if spec.action_mode != "joint_pos":
            raise PolicyError(
                f"policy=gr00t sends absolute joint targets; {spec.embodiment} takes "
                f"{spec.action_mode} actions: use a joint-space embodiment (e.g. gr1_joint "
                "embodiment.params.hands=fingers)"
            )
        if self.image_key not in spec.observations:
            raise PolicyError(
                f"policy=gr00t needs the camera image {self.image_key!r} as its ego view: add "
                f"enable_cameras=true cameras.names=[{self.config.camera}] (or set policy.camera "
                f"to one of the embodiment's cameras)"
            )

    def _plan(self, spec: EnvSpec) -> None:
        """Match the server's groups with the embodiment's; list every mismatch at once."""
        info, m, c = spec.embodiment_info, self.modality, self.config
        joints, actions = info.get("joint_groups", {}), info.get("action_groups", {})
        problems: list[str] = []
        self.state_slices = _match("state", m.state, c.state, joints, spec, problems)
        self.action_slices = _match("action", m.action, c.action, actions, spec, problems)
        covered = {c.action[k] for k in self.action_slices}
        missing = sorted(set(actions) - covered)
        if missing:
            problems.append(f"the server sends no action for {spec.embodiment}'s {missing}")
        if c.video_key not in m.video:
            problems.append(f"the server's video keys are {list(m.video)}, not {c.video_key!r}")
        if m.language and c.language_key not in m.language:
            problems.append(f"the server's language keys are {list(m.language)}")
        if c.action_chunk_length > m.horizon:
            problems.append(
                f"policy.action_chunk_length={c.action_chunk_length} exceeds the server's "
                f"horizon {m.horizon}"
            )
        if problems:
            self.client.close()
            raise PolicyError(
                f"policy=gr00t: the GR00T {m.version} model at {self.endpoint} does not fit "
                f"{spec.embodiment}:\n  - " + "\n  - ".join(problems)
            )

    # -- requests ------------------------------------------------------------------------
    def observation(self, obs: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
        """The request's data for envs ``rows``, in the server's version's layout."""
        image = fit_image(np.asarray(obs[self.image_key])[rows], tuple(self.config.image_size))
        joints = np.asarray(obs["joint_pos"], dtype=np.float32)[rows]
        states = {k: joints[:, None, sl] for k, sl in self.state_slices.items()}
        video = image[:, None]  # (B, T=1, H, W, 3)
        n, key = len(rows), self.config.language_key
        if self.modality.version == "n1.5":
            data = {f"video.{self.config.video_key}": video}
            data.update({f"state.{k}": v for k, v in states.items()})
            data[key] = [self.instruction] * n
            return data
        observation = {
            "video": {self.config.video_key: video},
            "state": states,
            "language": {key: [[self.instruction] for _ in range(n)]},
        }
        return {"observation": observation, "options": None}

    def _chunks(self, reply: Any, n: int) -> np.ndarray:
        if self.modality.version == "n1.6":
            if not isinstance(reply, list | tuple) or len(reply) != 2:
                raise PolicyError("policy=gr00t: an N1.6 reply must be [actions, info]")
            actions, prefix = reply[0], ""
        else:
            actions, prefix = reply, "action."
        h = self.chunk_length
        out = np.zeros((n, h, self.spec.action_dim), dtype=np.float32)
        for key, sl in self.action_slices.items():
            value = actions.get(prefix + key) if isinstance(actions, Mapping) else None
            if value is None:
                raise PolicyError(f"policy=gr00t: the reply has no {prefix + key!r}")
            value = np.asarray(value)
            want = (n, self.modality.horizon, sl.stop - sl.start)
            if value.shape != want:
                raise PolicyError(
                    f"policy=gr00t: {prefix + key!r} has shape {value.shape}, expected {want}"
                )
            out[:, :, sl] = value[:, :h]
        return out

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        need = self._broker.needs_chunk()
        if need.size:
            start = time.perf_counter()
            try:
                reply = self.client.call("get_action", self.observation(obs, need))
            except (ServerUnavailable, Gr00tError) as err:
                raise PolicyError(f"policy=gr00t: {err}") from None
            self._broker.fill(need, self._chunks(reply, need.size))
            self._roundtrip_s.append(time.perf_counter() - start)
            self._envs_per_call.append(int(need.size))
        return self._broker.pop()

    def reset(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        self._broker.reset(env_ids)  # nothing goes over the wire on a reset

    def set_task_description(self, text: str) -> None:
        if not self.config.instruction:
            self.instruction = text

    def stats(self) -> dict:
        ms = np.asarray(self._roundtrip_s) * 1e3
        return {
            "endpoint": self.endpoint,
            "gr00t_version": self.modality.version,
            "horizon": self.modality.horizon,
            "chunk_length": self.chunk_length,
            "infer_calls": len(ms),
            "envs_per_call_mean": float(np.mean(self._envs_per_call)) if ms.size else 0.0,
            "reconnects": self.client.reconnects,
            "roundtrip_ms": {"mean": float(ms.mean()), "p50": float(np.median(ms))}
            if ms.size
            else {},
        }

    def close(self) -> None:
        self.client.close()
