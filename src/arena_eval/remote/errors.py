"""Error codes carried in error replies, and the exceptions each side raises for them."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    """The ``code`` of an error reply. Stable strings: clients may branch on them."""

    MALFORMED = "malformed"  # not a decodable message: garbage, truncated, bad frames
    TOO_LARGE = "too_large"  # message, header or array beyond the server's limits
    VERSION_MISMATCH = "version_mismatch"  # header "v" is not this server's PROTOCOL_VERSION
    UNKNOWN_MESSAGE = "unknown_message"  # header "type" names no message
    BAD_REQUEST = "bad_request"  # decodable, but fields missing or of the wrong type
    NO_SESSION = "no_session"  # a message other than hello/ping before hello
    HANDSHAKE_MISMATCH = "handshake_mismatch"  # hello: offered observations do not fit
    OBSERVATION_MISMATCH = "observation_mismatch"  # infer: obs keys/shapes/dtypes do not fit
    POLICY_ERROR = "policy_error"  # the served policy raised or returned a bad chunk
    NOT_PERMITTED = "not_permitted"  # kill from a client that may not stop the server
    INTERNAL = "internal"  # a bug in the server; it keeps serving


class WireError(Exception):
    """Raised inside the codec and the server's request checks; becomes an error reply."""

    def __init__(self, code: ErrorCode, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details)


class RemoteError(Exception):
    """Base of every exception :class:`PolicyClient` raises."""


class ServerUnavailable(RemoteError):
    """No reply within the timeout, after every retry the budget allowed."""


class AuthenticationRefused(ServerUnavailable):
    """The server's CURVE handshake refused this client's key (or the mechanisms differ)."""


class RequestRejected(RemoteError):
    """The server answered with an error reply; ``code`` says which kind."""

    def __init__(self, code: str, message: str, details: Sequence[str] = ()) -> None:
        text = message if not details else message + "\n  - " + "\n  - ".join(details)
        super().__init__(text)
        self.code = code
        self.message = message
        self.details = list(details)


class HandshakeMismatch(RequestRejected):
    """What the client offers does not match the server's ActionProtocol; ``details`` lists it."""


class ProtocolVersionMismatch(RequestRejected):
    """Client and server speak different protocol versions."""


class ObservationMismatch(RequestRejected):
    """An infer request's observations do not match the ActionProtocol; ``details`` lists it."""


class NotPermitted(RequestRejected):
    """The server refused a privileged request (kill)."""


class PolicyFailed(RequestRejected):
    """The served policy raised, or returned actions of the wrong shape."""


_REJECTION_TYPES: dict[str, type[RequestRejected]] = {
    ErrorCode.HANDSHAKE_MISMATCH: HandshakeMismatch,
    ErrorCode.VERSION_MISMATCH: ProtocolVersionMismatch,
    ErrorCode.OBSERVATION_MISMATCH: ObservationMismatch,
    ErrorCode.NOT_PERMITTED: NotPermitted,
    ErrorCode.POLICY_ERROR: PolicyFailed,
}


def rejection(code: str, message: str, details: Sequence[str] = ()) -> RequestRejected:
    """The most specific exception for an error reply's code."""
    return _REJECTION_TYPES.get(code, RequestRejected)(code, message, details)
