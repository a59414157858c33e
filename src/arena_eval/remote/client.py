"""PolicyClient: a DEALER client with bounded waits, reconnects and typed errors; never hangs."""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from .auth import ClientCurve, endpoint_host, secure_client_socket
from .codec import Limits, decode_arrays, decode_header, encode
from .errors import (
    AuthenticationRefused,
    ErrorCode,
    HandshakeMismatch,
    RemoteError,
    RequestRejected,
    ServerUnavailable,
    WireError,
    rejection,
)
from .protocol import (
    ERROR_REPLY,
    PROTOCOL_VERSION,
    ActionProtocol,
    ClientHello,
    MessageType,
    TensorSpec,
)

log = logging.getLogger(__name__)

_HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
_SESSIONLESS = (MessageType.PING, MessageType.KILL)  # need no hello first


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a call tries before raising :class:`ServerUnavailable`.

    One call waits at most ``timeout_s`` (the client's) for a reply, then reconnects and
    retries with exponential backoff while ``max_attempts`` and ``budget_s`` (seconds after
    the first wait) allow. A call therefore ends within ``timeout_s + budget_s`` plus one
    reconnect's bookkeeping.
    """

    budget_s: float = 30.0
    max_attempts: int = 5
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 2.0


class InferResult(NamedTuple):
    actions: np.ndarray  # [n, chunk_length, action_dim] float32, a view of the reply frame
    server_infer_s: float  # time the server spent inside the policy
    roundtrip_s: float  # send to reply as the client saw it; the rest is network + codec


class _NoReply(Exception):
    """No reply within the wait; the socket is dropped and the call may retry."""


class _SessionLost(Exception):
    """The server does not know this client (restarted, or evicted it): say hello again."""


def _id_list(env_ids: Any) -> list[int]:
    ids = np.asarray(env_ids).reshape(-1)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"env_ids must be integers, got dtype {ids.dtype}")
    return ids.tolist()


class PolicyClient:
    """Client of one :class:`PolicyServer`.

    ``observations`` are the specs the client can send (checked by the server at hello; None
    skips that check). Every method either returns within the bounds of ``timeout_s`` and
    ``retry`` or raises a :class:`RemoteError`.
    """

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5555",
        *,
        name: str = "arena-eval",
        observations: Mapping[str, TensorSpec] | None = None,
        num_envs: int | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        curve: ClientCurve | None = None,
        max_message_bytes: int = Limits.max_message_bytes,
        context: zmq.Context | None = None,
    ) -> None:
        endpoint_host(endpoint)  # fails early, and clearly, on a malformed endpoint
        self.endpoint = endpoint
        self.name = name
        self.observations = dict(observations) if observations is not None else None
        self.num_envs = num_envs
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.curve = curve
        self.limits = Limits(max_message_bytes=max_message_bytes)
        self.session = secrets.token_hex(16)
        self.protocol: ActionProtocol | None = None
        self.reconnects = 0
        self._server_max_bytes: int | None = None
        self._context = context or zmq.Context.instance()
        self._ids = itertools.count(1)
        self._sock: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._poller: zmq.Poller | None = None
        self._greeted = False
        self._task_description: str | None = None

    # -- public API --------------------------------------------------------------------------

    def connect(self) -> ActionProtocol:
        """Say hello (again); return the server's ActionProtocol."""
        self._greeted = False
        self._request(MessageType.HELLO, {})
        assert self.protocol is not None
        return self.protocol

    def infer(self, obs: Mapping[str, np.ndarray], env_ids: np.ndarray) -> InferResult:
        """Action chunks ``[len(env_ids), chunk_length, action_dim]`` for the envs' obs rows."""
        ids = _id_list(env_ids)
        if self.protocol is None:
            self.connect()
        assert self.protocol is not None
        # Send only what the policy asked for; the server reports missing keys precisely.
        wanted = self.protocol.observations
        arrays = {k: v for k, v in obs.items() if k in wanted} or dict(obs)
        started = time.perf_counter()
        body, reply = self._request(MessageType.INFER, {"env_ids": ids}, arrays)
        roundtrip = time.perf_counter() - started
        actions = reply.get("actions")
        expected = (len(ids), self.protocol.chunk_length, self.protocol.action_dim)
        if actions is None or actions.shape != expected or actions.dtype != np.float32:
            got = None if actions is None else f"{actions.dtype}{list(actions.shape)}"
            raise RemoteError(f"server sent actions {got}; expected float32{list(expected)}")
        server_s = body.get("server_infer_s")
        return InferResult(
            actions, float(server_s) if server_s is not None else math.nan, roundtrip
        )

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Reset the policy's state for ``env_ids`` (all envs when None)."""
        body = {} if env_ids is None else {"env_ids": _id_list(env_ids)}
        self._request(MessageType.RESET, body)

    def set_task_description(self, text: str) -> None:
        """Set the language instruction; re-sent automatically if the server restarts."""
        self._request(MessageType.SET_TASK_DESCRIPTION, {"text": text})
        self._task_description = text

    def ping(self) -> float:
        """Round-trip seconds of a ping."""
        started = time.perf_counter()
        self._request(MessageType.PING, {})
        return time.perf_counter() - started

    def kill(self) -> None:
        """Ask the server to stop (refused unless the server allows it: :class:`NotPermitted`)."""
        self._request(MessageType.KILL, {}, retry=False)

    def close(self) -> None:
        """Tell the server to drop this client's state (best effort, short wait), then close."""
        if self._sock is not None and self._greeted:
            with contextlib.suppress(RemoteError):
                self._request(MessageType.BYE, {}, retry=False, timeout_s=min(self.timeout_s, 0.5))
        self._drop_socket()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sockets -----------------------------------------------------------------------------

    def _open_socket(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        wait_ms = max(1, int(self.timeout_s * 1000))
        sock.sndtimeo = wait_ms
        sock.rcvtimeo = wait_ms
        sock.maxmsgsize = self.limits.max_message_bytes
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = 1000
        host = endpoint_host(self.endpoint)
        if host is not None and ":" in host:
            sock.ipv6 = True
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if self.curve is not None:
            secure_client_socket(sock, self.curve)
            # Auth refusals show up only as socket events; watch them to fail fast and clearly.
            self._monitor = sock.get_monitor_socket(_HANDSHAKE_FAILURES)
            self._monitor.linger = 0
            poller.register(self._monitor, zmq.POLLIN)
        sock.connect(self.endpoint)
        self._sock, self._poller = sock, poller

    def _drop_socket(self) -> None:
        if self._monitor is not None and self._sock is not None:
            self._sock.disable_monitor()
            self._monitor.close(linger=0)
        if self._sock is not None:
            self._sock.close(linger=0)
        self._sock = self._monitor = self._poller = None
        self._greeted = False

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self,
        kind: MessageType,
        body: dict[str, Any],
        arrays: Mapping[str, np.ndarray] | None = None,
        *,
        retry: bool = True,
        timeout_s: float | None = None,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        request_id, frames = self._frames(kind, body, arrays)
        self._check_size(frames)
        wait = timeout_s if timeout_s is not None else self.timeout_s
        give_up_at = time.monotonic() + wait + (self.retry.budget_s if retry else 0.0)
        delay = self.retry.backoff_initial_s
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._sock is None:
                    self._open_socket()
                if kind not in _SESSIONLESS:
                    self._greet_if_needed(wait, give_up_at)
                if kind == MessageType.HELLO:
                    return {}, {}
                return self._roundtrip(kind, request_id, frames, wait, give_up_at)
            except _SessionLost:
                failure = "the server no longer knew this client (restarted or evicted it)"
                self._greeted = False
                pause = 0.0  # the server is there: say hello again right away
            except _NoReply as err:
                failure = str(err)
                self._drop_socket()
                pause = delay
            now = time.monotonic()
            if not retry or attempt >= self.retry.max_attempts or now + pause >= give_up_at:
                raise ServerUnavailable(
                    f"policy server {self.endpoint} did not answer {kind} after {attempt} "
                    f"attempt(s): {failure}. Is the server running and reachable? (timeout "
                    f"{wait:g}s per attempt, retry budget {self.retry.budget_s:g}s / "
                    f"{self.retry.max_attempts} attempts)"
                )
            log.warning(
                "%s to %s failed (%s); reconnecting in %.2fs (attempt %d of %d)",
                kind,
                self.endpoint,
                failure,
                pause,
                attempt + 1,
                self.retry.max_attempts,
            )
            time.sleep(pause)
            if pause:
                delay = min(delay * 2, self.retry.backoff_max_s)
            self.reconnects += 1

    def _check_size(self, frames: list[Any]) -> None:
        limit = self._server_max_bytes
        if limit is None:  # before the first hello: the server's limit is not known yet
            return
        total = sum(memoryview(f).nbytes for f in frames)
        if total > limit:
            # The server would drop the connection without a word: say it here instead.
            raise RequestRejected(
                ErrorCode.TOO_LARGE,
                f"this request is {total} bytes; the server accepts at most {limit}. Send fewer "
                "envs per call or raise the server's max_message_bytes.",
            )

    def _frames(
        self, kind: MessageType, body: dict[str, Any], arrays: Mapping[str, Any] | None = None
    ) -> tuple[int, list[Any]]:
        request_id = next(self._ids)
        meta = {"v": PROTOCOL_VERSION, "type": str(kind), "id": request_id, "body": body}
        return request_id, encode(meta, arrays)

    def _greet_if_needed(self, wait: float, give_up_at: float) -> None:
        if self._greeted:
            return
        hello = ClientHello(self.name, self.session, self.observations, self.num_envs)
        request_id, frames = self._frames(MessageType.HELLO, hello.to_wire())
        body, _ = self._roundtrip(MessageType.HELLO, request_id, frames, wait, give_up_at)
        try:
            protocol = ActionProtocol.from_wire(body["protocol"])
        except (KeyError, TypeError, WireError) as err:
            raise RemoteError(
                f"server at {self.endpoint} sent an unreadable hello reply ({err}); is it an "
                "arena-eval policy server of the same version?"
            ) from None
        if self.protocol is not None and protocol != self.protocol:
            raise HandshakeMismatch(
                ErrorCode.HANDSHAKE_MISMATCH,
                f"the server at {self.endpoint} now serves a different ActionProtocol than at "
                "the start of this run (restarted with another policy?)",
                [f"before: {self.protocol}", f"now: {protocol}"],
            )
        self.protocol = protocol
        self._server_max_bytes = int(body.get("max_message_bytes") or 0) or None
        self._greeted = True
        if not body.get("resumed") and self._task_description is not None:
            # A fresh server (restart) has lost the instruction; give it back before going on.
            kind = MessageType.SET_TASK_DESCRIPTION
            task_id, frames = self._frames(kind, {"text": self._task_description})
            self._roundtrip(kind, task_id, frames, wait, give_up_at)

    def _roundtrip(
        self,
        kind: MessageType,
        request_id: int,
        frames: list[Any],
        wait: float,
        give_up_at: float,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self._sock is not None and self._poller is not None
        deadline = min(time.monotonic() + wait, give_up_at)
        try:
            self._sock.send_multipart(frames, copy=False)
        except zmq.Again:
            raise _NoReply(f"could not send {kind} within {wait:g}s") from None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _NoReply(f"no reply to {kind} within {wait:g}s")
            ready = dict(self._poller.poll(max(1, int(remaining * 1000))))
            if self._monitor is not None and self._monitor in ready:
                self._raise_handshake_failure()
            if self._sock not in ready:
                continue
            reply = self._sock.recv_multipart(copy=False)
            try:
                header = decode_header(reply, self.limits)
                reply_id = header.get("id")
                if reply_id is not None and reply_id != request_id:
                    log.debug(
                        "discarding a stale reply (id %s, waiting for %d)", reply_id, request_id
                    )
                    continue
                body = header.get("body")
                if not isinstance(body, dict):
                    raise WireError(ErrorCode.MALFORMED, "reply 'body' is not a map")
                if header.get("type") == ERROR_REPLY:
                    # An error without id answers a header the server could not read: ours.
                    self._raise_error(body)
                elif reply_id is None:
                    continue
                return body, decode_arrays(header, reply, self.limits)
            except WireError as err:
                raise RemoteError(
                    f"server at {self.endpoint} sent an unreadable reply to {kind}: {err}"
                ) from None

    def _raise_error(self, body: Mapping[str, Any]) -> None:
        code = str(body.get("code", "unknown"))
        if code == ErrorCode.NO_SESSION:
            raise _SessionLost()
        details = [str(d) for d in body.get("details") or []]
        raise rejection(code, str(body.get("message", "(no message)")), details)

    def _raise_handshake_failure(self) -> None:
        assert self._monitor is not None
        event = recv_monitor_message(self._monitor)
        self._drop_socket()
        raise AuthenticationRefused(
            f"the server at {self.endpoint} refused the CURVE handshake (event "
            f"{event['event']}, status {event['value']}): its allowed-clients folder must hold "
            "this client's public '.key' file, and server_public_key_file must be the server's "
            "public key"
        )
