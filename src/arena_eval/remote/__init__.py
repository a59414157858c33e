"""Serve a policy over ZMQ and query it: codec, protocol, server, client, chunk broker.

A leaf library (stdlib, numpy, pyzmq, msgpack only): it imports nothing else from arena_eval.
"""

from .auth import ClientCurve, ServerCurve, generate_keypair, is_loopback
from .broker import ActionChunkBroker
from .client import InferResult, PolicyClient, RetryPolicy
from .codec import Limits
from .errors import (
    AuthenticationRefused,
    ErrorCode,
    HandshakeMismatch,
    NotPermitted,
    ObservationMismatch,
    PolicyFailed,
    ProtocolVersionMismatch,
    RemoteError,
    RequestRejected,
    ServerUnavailable,
)
from .protocol import PROTOCOL_VERSION, ActionProtocol, ClientHello, ServedPolicy, TensorSpec
from .server import InsecureBindError, PolicyServer, ServerStartError

__all__ = [
    "PROTOCOL_VERSION",
    "ActionChunkBroker",
    "ActionProtocol",
    "AuthenticationRefused",
    "ClientCurve",
    "ClientHello",
    "ErrorCode",
    "HandshakeMismatch",
    "InferResult",
    "InsecureBindError",
    "Limits",
    "NotPermitted",
    "ObservationMismatch",
    "PolicyClient",
    "PolicyFailed",
    "PolicyServer",
    "ProtocolVersionMismatch",
    "RemoteError",
    "RequestRejected",
    "RetryPolicy",
    "ServedPolicy",
    "ServerCurve",
    "ServerStartError",
    "ServerUnavailable",
    "TensorSpec",
    "generate_keypair",
    "is_loopback",
]
