"""policy=openpi: action chunks from an openpi websocket server (pi0, pi05 ...), unmodified.

openpi serves one observation per request, so each env has its own connection and the envs
that need a chunk ask concurrently (``max_in_flight`` at once). The observation layout is a
preset in ``conf/policy/openpi.yaml`` (``libero``, ``droid``) or given key by key:

- ``images``: server key -> our camera (``image_<camera>``), resized and padded to
  ``image_size``;
- ``state``: server key -> a list of sources concatenated: an observation key (``ee_pos``), a
  slice of one (``joint_pos[7:9]``), ``rotvec(ee_quat)`` (axis-angle of a (w, x, y, z)
  quaternion) or ``closed(gripper_opening)`` (0 open .. 1 closed);
- ``prompt_key``: the language instruction.

Replies ``actions`` ``(H, D)``: the gripper dimension (``gripper_index``) is mapped from the
model's ``[open, closed]`` values onto ours (+1 open, -1 closed) and put last; the other
dimensions map in order onto ours. ``integrate: true`` reads them as joint velocities and
integrates them over one control step onto the measured joints (DROID).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from arena_eval.envs.base import EnvSpec
from arena_eval.geometry import rotvec_from_quat
from arena_eval.policies.base import Policy, PolicyError, register_policy
from arena_eval.policies.gr00t import fit_image
from arena_eval.remote import ActionChunkBroker, RemoteError
from arena_eval.remote.openpi import OpenpiConnection, healthz

log = logging.getLogger(__name__)
_SOURCE = re.compile(r"^(?:(rotvec|closed)\((\w+)\)|(\w+)(?:\[(-?\d*):(-?\d*)\])?)$")
FINGER_SPAN = 0.08  # the Franka gripper's full opening (m)


def source_fn(text: str, spec: EnvSpec):
    """Parse one state source into a function of the observations; clear errors."""
    match = _SOURCE.match(text.replace(" ", ""))
    if not match:
        raise PolicyError(f"policy=openpi: cannot read state source {text!r}")
    func, arg, key, lo, hi = match.groups()
    name = arg or key
    if name not in spec.observations:
        raise PolicyError(
            f"policy=openpi: state source {text!r} needs observation {name!r}; this env has "
            f"{sorted(spec.observations)}"
        )
    if func == "rotvec":
        return lambda obs, rows: rotvec_from_quat(np.asarray(obs[name], np.float64)[rows])
    if func == "closed":
        return lambda obs, rows: 1.0 - np.asarray(obs[name], np.float64)[rows] / FINGER_SPAN
    if lo is not None or hi is not None:
        sl = slice(int(lo) if lo else None, int(hi) if hi else None)
        return lambda obs, rows: np.asarray(obs[name], np.float64)[rows][:, sl]
    return lambda obs, rows: np.asarray(obs[name], np.float64)[rows]


@register_policy("openpi")
class OpenpiPolicy(Policy):
    @dataclasses.dataclass
    class Config:
        host: str = "127.0.0.1"
        port: int = 8000
        url: str | None = None  # ws://host:port; overrides host/port
        timeout_s: float = 30.0
        retry_attempts: int = 3
        api_key: str | None = None  # sent as "Authorization: Api-Key ..."; never logged
        preset: str | None = "libero"
        images: dict[str, str] | None = None  # server key -> our camera name
        state: dict[str, list[str]] | None = None  # server key -> sources
        prompt_key: str | None = None
        image_size: int | None = None
        gripper_index: int | None = None
        gripper: list[float] | None = None  # the model's [open, closed] gripper values
        integrate: bool | None = None
        action_chunk_length: int = 5  # steps played from each chunk (<= H)
        max_in_flight: int = 16  # concurrent requests (one connection per env)
        instruction: str | None = None
        presets: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __init__(self, config: Config, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        self.url = config.url or f"ws://{config.host}:{config.port}"
        layout = self._layout(config)
        self.images = dict(layout.get("images") or {})
        self.image_size = int(layout.get("image_size") or 224)
        self.prompt_key = layout.get("prompt_key") or "prompt"
        self.gripper_index = layout.get("gripper_index")
        self.gripper = layout.get("gripper") or [1.0, -1.0]
        self.integrate = bool(layout.get("integrate") or False)
        missing = [c for c in self.images.values() if f"image_{c}" not in spec.observations]
        if missing:
            raise PolicyError(
                f"policy=openpi ({config.preset or 'custom'}) needs the camera image(s) "
                f"{missing}: add enable_cameras=true "
                f"cameras.names=[{','.join(self.images.values())}]"
            )
        self.state = {
            key: [source_fn(s, spec) for s in sources]
            for key, sources in (layout.get("state") or {}).items()
        }
        if self.integrate and "joint_pos" not in spec.observations:
            raise PolicyError("policy=openpi: integrate=true needs joint_pos observations")
        self.instruction = config.instruction or spec.task.replace("_", " ")
        if not healthz(self.url, min(5.0, config.timeout_s)):
            log.warning("openpi server %s: /healthz did not answer 200", self.url)
        self.connections = [
            OpenpiConnection(self.url, config.timeout_s, config.retry_attempts, config.api_key)
            for _ in range(spec.num_envs)
        ]
        try:
            self.metadata = self.connections[0].connect()
        except RemoteError as err:
            raise PolicyError(f"policy=openpi: {err}") from None
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(spec.num_envs, config.max_in_flight))
        )
        self._broker = ActionChunkBroker(spec.num_envs, spec.action_dim)
        self.chunk_length = config.action_chunk_length
        self._roundtrip_s: list[float] = []
        self._server_ms: list[float] = []
        self._step_s: list[float] = []

    def _layout(self, c: Config) -> dict[str, Any]:
        base = {}
        if c.preset:
            if c.preset not in c.presets:
                raise PolicyError(
                    f"policy=openpi: unknown preset {c.preset!r}; presets: {sorted(c.presets)} "
                    "(or preset=null with images/state given)"
                )
            base = dict(c.presets[c.preset])
        for key in ("images", "state", "prompt_key", "image_size", "gripper_index", "gripper",
                    "integrate"):  # fmt: skip
            value = getattr(c, key)
            if value is not None:
                base[key] = value
        return base

    # -- requests ------------------------------------------------------------------------
    def observation(self, obs: Mapping[str, np.ndarray], env: int) -> dict[str, Any]:
        """One env's request, in the server's keys."""
        rows = np.array([env])
        out: dict[str, Any] = {}
        size = (self.image_size, self.image_size)
        for key, camera in self.images.items():
            out[key] = fit_image(np.asarray(obs[f"image_{camera}"])[rows], size)[0]
        for key, sources in self.state.items():
            parts = [np.asarray(f(obs, rows), np.float64).reshape(1, -1) for f in sources]
            out[key] = np.concatenate(parts, axis=1)[0].astype(np.float32)
        out[self.prompt_key] = self.instruction
        return out

    def _to_actions(self, chunk: np.ndarray, obs: Mapping[str, np.ndarray], env: int) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float64)
        dim = self.spec.action_dim
        if chunk.ndim != 2:
            raise PolicyError(f"policy=openpi: 'actions' has shape {chunk.shape}, not (H, D)")
        out = np.zeros((min(len(chunk), self.chunk_length), dim))
        chunk = chunk[: len(out)]
        g = self.gripper_index
        if g is not None:
            p_open, p_closed = self.gripper
            grip = 1.0 - 2.0 * (chunk[:, g] - p_open) / (p_closed - p_open)
            rest = np.delete(chunk, g, axis=1)
        else:
            grip, rest = None, chunk
        n = dim - (1 if grip is not None else 0)
        if rest.shape[1] < n:
            raise PolicyError(
                f"policy=openpi: the server's actions have {chunk.shape[1]} dims; "
                f"{self.spec.embodiment} takes {dim}"
            )
        arm = rest[:, :n]
        if self.integrate:  # joint velocities -> targets one control step ahead each
            q = np.asarray(obs["joint_pos"], np.float64)[env, :n]
            arm = q + np.cumsum(arm, axis=0) / self.spec.control_hz
        out[:, :n] = arm
        if grip is not None:
            out[:, n] = np.clip(grip, -1.0, 1.0)
        return out

    def _ask(self, obs: Mapping[str, np.ndarray], env: int) -> tuple[np.ndarray, float, float]:
        start = time.perf_counter()
        reply = self.connections[env].infer(self.observation(obs, env))
        server = (reply.get("server_timing") or {}).get("infer_ms", np.nan)
        return self._to_actions(reply["actions"], obs, env), time.perf_counter() - start, server

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        need = self._broker.needs_chunk()
        if need.size:
            start = time.perf_counter()
            try:
                results = list(self._pool.map(lambda e: self._ask(obs, int(e)), need))
            except RemoteError as err:
                raise PolicyError(f"policy=openpi: {err}") from None
            for env, (chunk, roundtrip, server) in zip(need, results, strict=True):
                self._broker.fill(np.array([env]), chunk[None])
                self._roundtrip_s.append(roundtrip)
                self._server_ms.append(server)
            self._step_s.append(time.perf_counter() - start)
        return self._broker.pop()

    def reset(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        self._broker.reset(env_ids)  # nothing goes over the wire on a reset

    def set_task_description(self, text: str) -> None:
        if not self.config.instruction:
            self.instruction = text

    def stats(self) -> dict:
        rt = np.asarray(self._roundtrip_s) * 1e3
        steps = np.asarray(self._step_s) * 1e3
        return {
            "url": self.url,
            "requests": int(rt.size),
            "roundtrip_ms_p50": float(np.median(rt)) if rt.size else None,
            "server_infer_ms_p50": float(np.nanmedian(self._server_ms)) if rt.size else None,
            "batched_step_ms_p50": float(np.median(steps)) if steps.size else None,
            "reconnects": sum(c.reconnects for c in self.connections),
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for connection in self.connections:
            connection.close()
