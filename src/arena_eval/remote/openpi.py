"""A client for openpi's websocket policy server, on its own wire protocol.

Plain websocket, no compression. On connect the server sends one binary frame, its metadata
(msgpack). Then each request is one binary msgpack observation and each reply one msgpack map
``{"actions": (H, D), "server_timing": {...}, ...}``; one observation per request. Arrays are
``{"__ndarray__": True, "data": bytes, "dtype": str, "shape": [...]}`` and numpy scalars
``{"__npgeneric__": True, ...}``; object, void and complex dtypes are refused both ways, and
nothing is unpickled. A server error arrives as a text frame (the traceback) followed by close
code 1011; both become :class:`OpenpiError`. ``/healthz`` answers 200 on a live server.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import msgpack
import numpy as np

from arena_eval.remote.errors import RemoteError, ServerUnavailable

log = logging.getLogger(__name__)


class OpenpiError(RemoteError):
    """The openpi server failed on a request, or sent something this client refuses."""


def _refuse(dtype: np.dtype) -> None:
    if dtype.kind in "OVc":
        raise OpenpiError(f"arrays of dtype {dtype} are not allowed on openpi's wire")


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray | np.generic):
        _refuse(obj.dtype)
    if isinstance(obj, np.ndarray):
        return {
            b"__ndarray__": True,
            b"data": np.ascontiguousarray(obj).tobytes(),
            b"dtype": obj.dtype.str,
            b"shape": obj.shape,
        }
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    return obj


def _decode(obj: dict) -> Any:
    if b"__ndarray__" in obj or "__ndarray__" in obj:
        get = (lambda k: obj[k.encode()]) if b"__ndarray__" in obj else obj.__getitem__
        dtype = np.dtype(get("dtype"))
        _refuse(dtype)
        return np.frombuffer(get("data"), dtype=dtype).reshape(get("shape"))
    if b"__npgeneric__" in obj or "__npgeneric__" in obj:
        get = (lambda k: obj[k.encode()]) if b"__npgeneric__" in obj else obj.__getitem__
        dtype = np.dtype(get("dtype"))
        _refuse(dtype)
        return dtype.type(get("data"))
    return obj


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_encode, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, object_hook=_decode, raw=False, strict_map_key=False)


def healthz(url: str, timeout_s: float) -> bool:
    """True when ``GET /healthz`` answers 200 (openpi's health check)."""
    http = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/")
    try:
        with urllib.request.urlopen(f"{http}/healthz", timeout=timeout_s) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class OpenpiConnection:
    """One websocket to an openpi server (openpi serves one observation per request, so a
    batched env keeps one connection per env). Reconnects after a lost connection."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 30.0,
        retry_attempts: int = 3,
        api_key: str | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retry_attempts = max(1, retry_attempts)
        self._headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
        self._ws = None
        self.metadata: dict = {}
        self.reconnects = 0

    def connect(self) -> dict:
        from websockets.sync.client import connect

        try:
            # Entered as the context manager websockets asks for; left in close().
            self._ws = connect(
                self.url,
                additional_headers=self._headers,
                compression=None,
                max_size=None,
                open_timeout=self.timeout_s,
                close_timeout=1.0,
            ).__enter__()
            self.metadata = unpack(self._recv())
        except (OSError, TimeoutError) as err:
            self.close()
            raise ServerUnavailable(
                f"openpi server {self.url} is not reachable ({type(err).__name__}: {err}). Is "
                "it running? (policy.host, policy.port)"
            ) from None
        return self.metadata

    def _recv(self) -> bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = self._ws.recv(timeout=self.timeout_s)
        except TimeoutError:
            raise ServerUnavailable(
                f"openpi server {self.url} sent nothing for {self.timeout_s:g}s (policy.timeout_s)"
            ) from None
        except ConnectionClosed as err:
            raise self._closed(err) from None
        if isinstance(frame, str):  # the server's traceback; close code 1011 follows
            raise OpenpiError(f"openpi server {self.url} failed:\n{frame.strip()}")
        return frame

    def _closed(self, err) -> RemoteError:
        code = getattr(getattr(err, "rcvd", None), "code", None)
        if code == 1011:
            return OpenpiError(f"openpi server {self.url} closed with an internal error (1011)")
        return ServerUnavailable(f"openpi server {self.url} closed the connection ({err})")

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        """One observation -> the server's reply; reconnects (bounded) after a lost link."""
        from websockets.exceptions import ConnectionClosed

        payload = pack(obs)
        for attempt in range(1, self.retry_attempts + 1):
            if self._ws is None:
                self.connect()
            try:
                self._ws.send(payload)
                reply = unpack(self._recv())
            except ConnectionClosed as err:
                error = self._closed(err)
            except ServerUnavailable as err:
                error = err
            else:
                if not isinstance(reply, dict) or "actions" not in reply:
                    raise OpenpiError(f"openpi server {self.url} replied without 'actions'")
                return reply
            self.close()
            if isinstance(error, OpenpiError) or attempt == self.retry_attempts:
                raise error
            log.warning("openpi %s: %s; reconnecting (attempt %d)", self.url, error, attempt + 1)
            self.reconnects += 1
            time.sleep(min(1.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._ws is not None:
            # Closing a broken socket must not mask the error that broke it.
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None
