"""A client for Isaac-GR00T's inference server (N1.5 and N1.6), on its own wire protocol.

The server is a ZMQ REP socket; each request is one msgpack map ``{"endpoint", "data"?,
"api_token"?}`` and each reply one msgpack value (``{"error": ...}`` on failure). Arrays travel
as ``{"__ndarray_class__": True, "as_npy": <a .npy file>}``, written and read with
``allow_pickle=False``; modality configs as ``{"__ModalityConfig_class__": True, "as_json": ...}``
whose ``as_json`` is a JSON string in N1.5 and a map in N1.6 — how the version is told apart.
The server applies no timeouts, so this client does: send and receive timeouts, LINGER 0, a
fresh REQ socket after a timeout (a REQ socket that missed its reply is stuck), bounded
retries. A reply that starts with ``PK`` is the old N1 SDK's torch pickle: refused, never loaded.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import zmq

from arena_eval.remote.errors import RemoteError, ServerUnavailable

log = logging.getLogger(__name__)

ARRAY = "__ndarray_class__"
MODALITY = "__ModalityConfig_class__"


class Gr00tError(RemoteError):
    """The GR00T server answered with an error, or with something this client must refuse."""


def _encode_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("object arrays cannot be sent to a GR00T server")
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return {ARRAY: True, "as_npy": buf.getvalue()}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__} for a GR00T server")


def _decode_hook(obj: dict) -> Any:
    if obj.get(ARRAY):
        return np.load(io.BytesIO(obj["as_npy"]), allow_pickle=False)
    if obj.get(MODALITY):
        raw = obj["as_json"]
        config = json.loads(raw) if isinstance(raw, str) else dict(raw)
        return {"__modality__": True, "json_string": isinstance(raw, str), **config}
    return obj


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_encode_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    if data[:2] == b"PK":
        raise Gr00tError(
            "the server answered with a torch pickle (a zip archive): that is the old GR00T N1 "
            "SDK's protocol, which this client refuses (never unpickle network input). Serve "
            "the model with Isaac-GR00T N1.5 or N1.6's inference server."
        )
    if data == b"ERROR":
        raise Gr00tError("the GR00T server answered ERROR")
    return msgpack.unpackb(data, object_hook=_decode_hook, raw=False, strict_map_key=False)


@dataclass(frozen=True)
class Modality:
    """What ``get_modality_config`` says, normalised across versions."""

    version: str  # "n1.5" | "n1.6"
    video: tuple[str, ...]  # group names without prefix: ("ego_view",)
    state: tuple[str, ...]
    action: tuple[str, ...]
    language: tuple[str, ...]  # full keys: ("annotation.human.action.task_description",)
    horizon: int  # len(action delta_indices)

    @classmethod
    def parse(cls, reply: Mapping[str, Any]) -> Modality:
        if not isinstance(reply, Mapping) or not reply:
            raise Gr00tError(f"get_modality_config returned {type(reply).__name__}, not a map")
        configs = {k: v for k, v in reply.items() if isinstance(v, Mapping)}
        flavours = {bool(v.get("json_string")) for v in configs.values() if v.get("__modality__")}
        if not flavours:
            raise Gr00tError(f"get_modality_config returned no modality configs: {sorted(reply)}")
        version = "n1.5" if flavours == {True} else "n1.6"

        def keys(modality: str, strip: bool) -> tuple[str, ...]:
            raw = configs.get(modality, {}).get("modality_keys", [])
            prefix = f"{modality}."
            return tuple(k[len(prefix) :] if strip and k.startswith(prefix) else k for k in raw)

        action = configs.get("action", {})
        return cls(
            version=version,
            video=keys("video", True),
            state=keys("state", True),
            action=keys("action", True),
            language=keys("language", False),
            horizon=len(action.get("delta_indices", [])) or 1,
        )


class Gr00tClient:
    """REQ client with timeouts, LINGER 0, socket rebuilds and bounded retries."""

    def __init__(
        self,
        endpoint: str,
        timeout_s: float = 10.0,
        retry_attempts: int = 3,
        retry_budget_s: float = 30.0,
        api_token: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.retry_attempts = max(1, retry_attempts)
        self.retry_budget_s = retry_budget_s
        self._token = api_token  # sent with each request; never logged
        self._context = zmq.Context.instance()
        self._sock: zmq.Socket | None = None
        self.reconnects = 0

    def _open(self) -> zmq.Socket:
        sock = self._context.socket(zmq.REQ)
        sock.linger = 0
        sock.rcvtimeo = sock.sndtimeo = max(1, int(self.timeout_s * 1000))
        sock.connect(self.endpoint)
        return sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def call(self, endpoint: str, data: Any = None, *, retry: bool = True) -> Any:
        request: dict[str, Any] = {"endpoint": endpoint}
        if data is not None:
            request["data"] = data
        if self._token:
            request["api_token"] = self._token
        payload = pack(request)
        give_up_at = time.monotonic() + self.timeout_s + (self.retry_budget_s if retry else 0)
        attempt = 0
        while True:
            attempt += 1
            if self._sock is None:
                self._sock = self._open()
            start = time.monotonic()
            try:
                self._sock.send(payload)
                reply = self._sock.recv()
            except zmq.Again:
                self._drop()  # a REQ socket that missed its reply cannot send again
                waited = time.monotonic() - start
                if not retry or attempt >= self.retry_attempts or time.monotonic() >= give_up_at:
                    raise ServerUnavailable(
                        f"GR00T server {self.endpoint} did not answer {endpoint!r} after "
                        f"{attempt} attempt(s) ({waited:.1f}s timeout each). Is it running and "
                        "reachable? (policy.timeout_s, policy.retry_attempts)"
                    ) from None
                log.warning(
                    "GR00T %s to %s timed out; retrying (attempt %d of %d)",
                    endpoint, self.endpoint, attempt + 1, self.retry_attempts,
                )  # fmt: skip
                self.reconnects += 1
                continue
            body = unpack(reply)
            if isinstance(body, Mapping) and "error" in body and len(body) == 1:
                raise Gr00tError(f"GR00T server {self.endpoint}, {endpoint!r}: {body['error']}")
            return body

    def close(self) -> None:
        self._drop()
