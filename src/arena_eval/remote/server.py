"""PolicyServer: serves one ServedPolicy to many DEALER clients over a ZMQ ROUTER socket.

Single-threaded request loop; every bad request gets a typed error reply and the loop goes on.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from .auth import ServerCurve, endpoint_host, is_loopback, secure_server_socket
from .codec import Limits, decode_arrays, decode_header, encode
from .errors import ErrorCode, WireError
from .protocol import (
    ERROR_REPLY,
    PROTOCOL_VERSION,
    ActionProtocol,
    ClientHello,
    MessageType,
    ServedPolicy,
    observation_differences,
)

log = logging.getLogger(__name__)

_TICK_MS = 100  # how often the loop looks at the stop flag while idle


class InsecureBindError(ValueError):
    """A non-loopback endpoint was asked for without CURVE keys and without insecure=True."""


class ServerStartError(RuntimeError):
    """The server socket could not be bound."""


@dataclass
class _Session:
    key: str  # what the served policy sees as ``client``
    name: str
    session: str
    identity: bytes
    num_envs: int | None
    last_request_id: int | None = None
    last_reply: list[Any] | None = None

    def label(self) -> str:
        return f"{self.name!r} (session {self.session[:6]}..)"


class PolicyServer:
    """Serve ``served`` on ``endpoint``. Binds in the constructor; :meth:`serve_forever` loops.

    ``protocol`` is the ActionProtocol answered to every hello; when None it is taken from
    ``served.protocol()``. Non-loopback endpoints need ``curve`` keys, or ``insecure=True``.
    """

    def __init__(
        self,
        served: ServedPolicy,
        protocol: ActionProtocol | None = None,
        endpoint: str = "tcp://127.0.0.1:5555",
        *,
        curve: ServerCurve | None = None,
        insecure: bool = False,
        max_message_bytes: int = Limits.max_message_bytes,
        max_clients: int = 16,
        context: zmq.Context | None = None,
    ) -> None:
        self.served = served
        self.protocol = protocol if protocol is not None else served.protocol()  # type: ignore[attr-defined]
        self.limits = Limits(max_message_bytes=max_message_bytes)
        self._expected = {
            key: (np.dtype(spec.dtype), spec.shape)
            for key, spec in self.protocol.observations.items()
        }
        self.max_clients = max_clients
        loopback = is_loopback(endpoint)
        if not loopback and curve is None and not insecure:
            raise InsecureBindError(
                f"refusing to listen on {endpoint}: it is reachable from other machines and no "
                "CURVE keys are set. Bind tcp://127.0.0.1:<port> (and tunnel, e.g. ssh -L), or "
                "give CURVE keys (arena-eval-server keygen), or pass insecure=True if this "
                "network is trusted."
            )
        # kill is honoured only from peers that are authenticated or on this machine.
        self.kill_permitted = curve is not None or loopback
        self._context = context or zmq.Context.instance()
        self._authenticator = None
        self._stop = threading.Event()
        self._close_linger_ms = 0
        self._by_identity: dict[bytes, _Session] = {}
        self._by_session: OrderedDict[str, _Session] = OrderedDict()
        self.counts = {"requests": 0, "errors": 0}
        sock = self._context.socket(zmq.ROUTER)
        sock.linger = 0
        sock.maxmsgsize = max_message_bytes  # libzmq drops the peer on any larger frame
        sock.rcvhwm = 64
        sock.sndhwm = 64
        try:
            if curve is not None:
                self._authenticator = secure_server_socket(self._context, sock, curve)
            host = endpoint_host(endpoint)
            if host is not None and ":" in host:
                sock.ipv6 = True
            sock.bind(endpoint)
        except zmq.ZMQError as err:
            self._close_socket(sock)
            raise ServerStartError(
                f"cannot listen on {endpoint}: {err}. Is another server using it? "
                "Pick another port or stop the other server."
            ) from None
        except BaseException:
            self._close_socket(sock)
            raise
        self._sock = sock
        self.endpoint = sock.last_endpoint.decode()
        self._handlers: dict[str, Callable[..., list[Any]]] = {
            MessageType.HELLO: self._hello,
            MessageType.INFER: self._infer,
            MessageType.RESET: self._reset,
            MessageType.SET_TASK_DESCRIPTION: self._set_task_description,
            MessageType.PING: self._ping,
            MessageType.KILL: self._kill,
            MessageType.BYE: self._bye,
        }
        if not loopback and curve is None:
            log.warning(
                "INSECURE: serving on %s WITHOUT CURVE. Anyone who can reach this port can "
                "query the policy; kill is refused. Use CURVE keys on untrusted networks.",
                self.endpoint,
            )
        log.info(
            "policy server for %r listening on %s (protocol v%d, CURVE %s, kill %s)",
            self.protocol.policy_name,
            self.endpoint,
            PROTOCOL_VERSION,
            "on" if curve else "off",
            "allowed" if self.kill_permitted else "refused",
        )

    # -- lifecycle -------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Answer requests until kill, stop(), SIGINT or SIGTERM."""
        restore = self._install_signal_handlers()
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(_TICK_MS):
                    continue
                frames = self._sock.recv_multipart(copy=False)
                if len(frames) < 2:
                    continue
                identity = frames[0].bytes
                reply = self.handle(identity, frames[1:])
                try:
                    self._sock.send_multipart([identity, *reply], copy=False)
                except zmq.ZMQError as err:  # peer gone or its queue full: drop this reply
                    log.warning("could not send a reply: %s", err)
        finally:
            restore()
        log.info(
            "policy server on %s stopped after %d requests (%d rejected)",
            self.endpoint,
            self.counts["requests"],
            self.counts["errors"],
        )

    def stop(self) -> None:
        """Make serve_forever return within ~0.1 s. Safe from any thread or signal handler."""
        self._stop.set()

    def close(self) -> None:
        for session in list(self._by_session.values()):
            self._forget(session)
        self._close_socket(self._sock)

    def __enter__(self) -> PolicyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_socket(self, sock: zmq.Socket) -> None:
        sock.close(linger=self._close_linger_ms)
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def on_signal(signum: int, frame: object) -> None:
            log.info("signal %d: stopping the policy server", signum)
            self.stop()

        for s in previous:
            signal.signal(s, on_signal)

        def restore() -> None:
            for s, handler in previous.items():
                signal.signal(s, handler)

        return restore

    # -- requests --------------------------------------------------------------------------

    def handle(self, identity: bytes, frames: list[Any]) -> list[Any]:
        """Reply frames for one request (without the identity frame). Never raises."""
        self.counts["requests"] += 1
        request_id = None
        kind = "?"
        try:
            header = decode_header(frames, self.limits)
            if type(header.get("id")) is int:
                request_id = header["id"]
            elif header.get("id") is not None:
                raise WireError(ErrorCode.BAD_REQUEST, "header 'id' must be an int")
            version = header.get("v")
            if type(version) is not int:
                raise WireError(ErrorCode.BAD_REQUEST, "header needs 'v', the protocol version")
            if version != PROTOCOL_VERSION:
                raise WireError(
                    ErrorCode.VERSION_MISMATCH,
                    f"client speaks protocol v{version}, this server speaks v{PROTOCOL_VERSION}; "
                    "install matching arena-eval versions on both sides",
                )
            kind = header.get("type")
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise WireError(
                    ErrorCode.UNKNOWN_MESSAGE,
                    f"unknown message type {kind!r}; known: {', '.join(self._handlers)}",
                )
            body = header.get("body", {})
            if not isinstance(body, dict):
                raise WireError(ErrorCode.BAD_REQUEST, "header 'body' must be a map")
            arrays = decode_arrays(header, frames, self.limits)
            return handler(identity, request_id, body, arrays)
        except WireError as err:
            self.counts["errors"] += 1
            who = self._who(identity)
            details = "".join(f"\n  - {d}" for d in err.details)
            log.warning("rejected %r from %s: %s: %s%s", kind, who, err.code, err.message, details)
            return self._error(request_id, err)
        except Exception as err:
            self.counts["errors"] += 1
            log.exception("internal error while handling %r from %s", kind, self._who(identity))
            return self._error(
                request_id, WireError(ErrorCode.INTERNAL, f"server error: {type(err).__name__}")
            )

    def _who(self, identity: bytes) -> str:
        session = self._by_identity.get(identity)
        return session.label() if session else f"peer {identity.hex()[:10]}"

    def _reply(
        self,
        kind: str,
        request_id: int | None,
        body: dict[str, Any],
        arrays: dict[str, np.ndarray] | None = None,
    ) -> list[Any]:
        meta = {"v": PROTOCOL_VERSION, "type": kind, "id": request_id, "body": body}
        return encode(meta, arrays)

    def _error(self, request_id: int | None, err: WireError) -> list[Any]:
        body = {"code": str(err.code), "message": err.message, "details": err.details}
        return self._reply(ERROR_REPLY, request_id, body)

    def _session(self, identity: bytes) -> _Session:
        session = self._by_identity.get(identity)
        if session is None:
            raise WireError(
                ErrorCode.NO_SESSION, "no session for this connection: send hello first"
            )
        self._by_session.move_to_end(session.session)
        return session

    def _session_call(
        self,
        kind: str,
        identity: bytes,
        request_id: int | None,
        work: Callable[[_Session], tuple[dict[str, Any], dict[str, np.ndarray] | None]],
    ) -> list[Any]:
        session = self._session(identity)
        # A client that timed out resends with the same id after reconnecting: replay the
        # answer instead of running the policy twice for one request.
        if request_id is not None and request_id == session.last_request_id:
            log.debug("replaying reply %d to %s", request_id, session.label())
            return session.last_reply or []
        body, arrays = work(session)
        reply = self._reply(kind, request_id, body, arrays)
        session.last_request_id, session.last_reply = request_id, reply
        return reply

    def _call_policy(self, what: str, session: _Session, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as err:
            log.exception("served policy failed in %s for %s", what, session.label())
            raise WireError(
                ErrorCode.POLICY_ERROR, f"the policy raised in {what}: {type(err).__name__}: {err}"
            ) from None

    def _hello(
        self, identity: bytes, request_id: int | None, body: dict[str, Any], arrays: dict
    ) -> list[Any]:
        hello = ClientHello.from_wire(body)
        if hello.observations is not None:
            problems = observation_differences(self.protocol.observations, hello.observations)
            if problems:
                raise WireError(
                    ErrorCode.HANDSHAKE_MISMATCH,
                    f"the observations this client offers do not fit policy "
                    f"{self.protocol.policy_name!r}; fix the env/embodiment config or serve a "
                    "policy made for it",
                    problems,
                )
        session = self._by_session.get(hello.session)
        resumed = session is not None
        if session is not None:
            self._by_identity.pop(session.identity, None)
            session.identity = identity
            self._by_session.move_to_end(hello.session)
        else:
            while len(self._by_session) >= self.max_clients:
                oldest = next(iter(self._by_session.values()))
                log.info(
                    "evicting idle client %s (max_clients=%d)", oldest.label(), self.max_clients
                )
                self._forget(oldest)
            session = _Session(
                key=f"{hello.client_name}/{hello.session}",
                name=hello.client_name,
                session=hello.session,
                identity=identity,
                num_envs=hello.num_envs,
            )
            opener = getattr(self.served, "open_client", None)
            if opener is not None:
                self._call_policy("open_client", session, lambda: opener(session.key, hello))
            self._by_session[hello.session] = session
            log.info("client %s connected (%s envs)", session.label(), hello.num_envs or "?")
        previous = self._by_identity.get(identity)
        if previous is not None and previous is not session:
            log.info("connection of %s now speaks for %s", previous.label(), session.label())
        self._by_identity[identity] = session
        body = {
            "protocol": self.protocol.to_wire(),
            "resumed": resumed,
            "max_message_bytes": self.limits.max_message_bytes,
            "kill_permitted": self.kill_permitted,
        }
        return self._reply(MessageType.HELLO, request_id, body)

    def _forget(self, session: _Session) -> None:
        self._by_session.pop(session.session, None)
        if self._by_identity.get(session.identity) is session:
            del self._by_identity[session.identity]
        closer = getattr(self.served, "close_client", None)
        if closer is not None:
            try:
                closer(session.key)
            except Exception:
                log.exception("served policy failed in close_client for %s", session.label())

    def _env_ids(self, session: _Session, body: dict[str, Any]) -> np.ndarray | None:
        ids = body.get("env_ids")
        if ids is None:
            return None
        # A msgpack list, checked in Python: cheaper than numpy for the usual tens of envs.
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise WireError(ErrorCode.BAD_REQUEST, "'env_ids' must be a list of ints")
        if ids:
            low, high, limit = min(ids), max(ids), session.num_envs
            if low < 0 or (limit is not None and high >= limit):
                raise WireError(
                    ErrorCode.BAD_REQUEST,
                    f"env_ids span {low}..{high}; this client declared {limit} envs at hello",
                )
            if len(set(ids)) != len(ids):
                raise WireError(ErrorCode.BAD_REQUEST, "env_ids contain duplicates")
        return np.array(ids, dtype=np.int64)

    def _infer(
        self, identity: bytes, request_id: int | None, body: dict, arrays: dict[str, np.ndarray]
    ) -> list[Any]:
        def work(session: _Session) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
            env_ids = self._env_ids(session, body)
            if env_ids is None or env_ids.size == 0:
                raise WireError(
                    ErrorCode.BAD_REQUEST,
                    "infer needs a non-empty 'env_ids' list naming the envs that need a chunk",
                )
            obs = self._observations(arrays, env_ids.size)
            started = time.perf_counter()
            actions = self._call_policy(
                "infer", session, lambda: self.served.infer(obs, env_ids, session.key)
            )
            elapsed = time.perf_counter() - started
            expected = (env_ids.size, self.protocol.chunk_length, self.protocol.action_dim)
            try:
                # A copy, so a policy may reuse its output buffer while zmq still sends this one.
                actions = np.array(actions, dtype=np.float32, order="C")
            except (TypeError, ValueError) as err:
                raise WireError(
                    ErrorCode.POLICY_ERROR, f"policy returned non-numeric actions: {err}"
                ) from None
            if actions.shape != expected:
                log.error("policy returned actions %s, expected %s", actions.shape, expected)
                raise WireError(
                    ErrorCode.POLICY_ERROR,
                    f"the policy returned actions of shape {actions.shape}; its ActionProtocol "
                    f"promises {expected} (envs, chunk_length, action_dim)",
                )
            return {"server_infer_s": elapsed}, {"actions": actions}

        return self._session_call(MessageType.INFER, identity, request_id, work)

    def _observations(self, obs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        expected = self._expected
        if obs.keys() == expected.keys() and all(
            value.dtype == expected[key][0] and value.shape == (n, *expected[key][1])
            for key, value in obs.items()
        ):
            return obs
        required = self.protocol.observations
        problems = [f"{key!r}: required, not sent" for key in required if key not in obs]
        problems += [
            f"{key!r}: sent, but the policy does not use it" for key in obs if key not in required
        ]
        for key, value in obs.items():
            spec = required.get(key)
            if spec is not None and (value.shape != (n, *spec.shape) or value.dtype != spec.dtype):
                problems.append(
                    f"{key!r}: expected {spec.dtype}{[n, *spec.shape]} for {n} envs, "
                    f"got {value.dtype}{list(value.shape)}"
                )
        if problems:
            raise WireError(
                ErrorCode.OBSERVATION_MISMATCH,
                "observations do not match the ActionProtocol from hello",
                problems,
            )
        return obs

    def _reset(
        self, identity: bytes, request_id: int | None, body: dict, arrays: dict[str, np.ndarray]
    ) -> list[Any]:
        def work(session: _Session) -> tuple[dict[str, Any], None]:
            env_ids = self._env_ids(session, body)
            self._call_policy("reset", session, lambda: self.served.reset(env_ids, session.key))
            return {}, None

        return self._session_call(MessageType.RESET, identity, request_id, work)

    def _set_task_description(
        self, identity: bytes, request_id: int | None, body: dict, arrays: dict
    ) -> list[Any]:
        text = body.get("text")
        if not isinstance(text, str):
            raise WireError(ErrorCode.BAD_REQUEST, "set_task_description needs a string 'text'")

        def work(session: _Session) -> tuple[dict[str, Any], None]:
            call = lambda: self.served.set_task_description(text, session.key)  # noqa: E731
            self._call_policy("set_task_description", session, call)
            return {}, None

        return self._session_call(MessageType.SET_TASK_DESCRIPTION, identity, request_id, work)

    def _ping(self, identity: bytes, request_id: int | None, body: dict, arrays: dict) -> list[Any]:
        reply = {"policy_name": self.protocol.policy_name, "time": time.time()}
        return self._reply(MessageType.PING, request_id, reply)

    def _kill(self, identity: bytes, request_id: int | None, body: dict, arrays: dict) -> list[Any]:
        if not self.kill_permitted:
            raise WireError(
                ErrorCode.NOT_PERMITTED,
                "kill not permitted: this server is reachable from other machines without "
                "CURVE authentication; stop it on its host (Ctrl-C / SIGTERM)",
            )
        log.info("kill requested by %s: stopping", self._who(identity))
        # A bounded linger on the final close lets this reply leave before the socket goes.
        self._close_linger_ms = 200
        self.stop()
        return self._reply(MessageType.KILL, request_id, {"stopping": True})

    def _bye(self, identity: bytes, request_id: int | None, body: dict, arrays: dict) -> list[Any]:
        session = self._by_identity.get(identity)
        if session is not None:
            log.info("client %s said bye", session.label())
            self._forget(session)
        return self._reply(MessageType.BYE, request_id, {})
