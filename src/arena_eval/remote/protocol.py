"""Protocol version, message types, the ActionProtocol handshake record and the served-policy
interface. Pure data: no sockets here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ErrorCode, WireError

# Bump on any change a peer of the previous version would misread.
PROTOCOL_VERSION = 1


class MessageType(StrEnum):
    HELLO = "hello"
    INFER = "infer"
    RESET = "reset"
    SET_TASK_DESCRIPTION = "set_task_description"
    PING = "ping"
    KILL = "kill"
    BYE = "bye"


ERROR_REPLY = "error"

# numpy names accepted in specs; the codec's whitelist in the form people write them.
SPEC_DTYPES = (
    "bool",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "float16",
    "float32",
    "float64",
)


@dataclass(frozen=True)
class TensorSpec:
    """Shape of one env's row (no env dimension) and dtype name of one observation."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        if self.dtype not in SPEC_DTYPES:
            raise ValueError(
                f"dtype {self.dtype!r} cannot go on the wire; use one of {SPEC_DTYPES}"
            )
        if any(d < 0 for d in self.shape):
            raise ValueError(f"shape {self.shape} has a negative dimension")

    def to_wire(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_wire(cls, value: Any, what: str) -> TensorSpec:
        shape = value.get("shape") if isinstance(value, dict) else None
        if not isinstance(shape, list) or not all(type(d) is int for d in shape):
            raise WireError(
                ErrorCode.BAD_REQUEST, f"{what}: expected {{'shape': [ints], 'dtype': name}}"
            )
        try:
            return cls(tuple(value["shape"]), str(value.get("dtype", "float32")))
        except (TypeError, ValueError) as err:
            raise WireError(ErrorCode.BAD_REQUEST, f"{what}: {err}") from None

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


def specs_to_wire(specs: Mapping[str, TensorSpec]) -> dict[str, Any]:
    return {key: spec.to_wire() for key, spec in specs.items()}


def specs_from_wire(value: Any, what: str) -> dict[str, TensorSpec]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise WireError(ErrorCode.BAD_REQUEST, f"{what}: expected a map of key -> spec")
    return {key: TensorSpec.from_wire(spec, f"{what}[{key!r}]") for key, spec in value.items()}


@dataclass(frozen=True)
class ActionProtocol:
    """What a served policy needs and returns; the server's answer to hello.

    ``chunk_length`` actions come back per env per infer call; ``horizon`` is how far the model
    plans (>= chunk_length; informative). Actions are float32 ``[n, chunk_length, action_dim]``.
    """

    observations: dict[str, TensorSpec]
    action_dim: int
    chunk_length: int = 1
    horizon: int | None = None
    control_hz: float | None = None
    policy_name: str = ""
    action_mode: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action_dim < 1 or self.chunk_length < 1:
            raise ValueError(
                f"action_dim ({self.action_dim}) and chunk_length ({self.chunk_length}) "
                "must be >= 1"
            )
        if self.horizon is not None and self.horizon < self.chunk_length:
            raise ValueError(f"horizon {self.horizon} is shorter than chunk {self.chunk_length}")

    def to_wire(self) -> dict[str, Any]:
        return {
            "observations": specs_to_wire(self.observations),
            "action_dim": self.action_dim,
            "chunk_length": self.chunk_length,
            "horizon": self.horizon,
            "control_hz": self.control_hz,
            "policy_name": self.policy_name,
            "action_mode": self.action_mode,
            "metadata": self.metadata,
        }

    @classmethod
    def from_wire(cls, value: Mapping[str, Any]) -> ActionProtocol:
        try:
            return cls(
                observations=specs_from_wire(value["observations"], "observations"),
                action_dim=int(value["action_dim"]),
                chunk_length=int(value["chunk_length"]),
                horizon=None if value.get("horizon") is None else int(value["horizon"]),
                control_hz=None if value.get("control_hz") is None else float(value["control_hz"]),
                policy_name=str(value.get("policy_name", "")),
                action_mode=str(value.get("action_mode", "")),
                metadata=dict(value.get("metadata") or {}),
            )
        except (KeyError, TypeError, ValueError, WireError) as err:
            raise WireError(
                ErrorCode.MALFORMED, f"bad ActionProtocol in hello reply: {err}"
            ) from None


@dataclass(frozen=True)
class ClientHello:
    """The body of a hello: who the client is and which observations it can send."""

    client_name: str
    session: str
    observations: dict[str, TensorSpec] | None = None  # None: "tell me, I will check myself"
    num_envs: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "client": self.client_name,
            "session": self.session,
            "observations": None if self.observations is None else specs_to_wire(self.observations),
            "num_envs": self.num_envs,
        }

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> ClientHello:
        name, session, num_envs = body.get("client"), body.get("session"), body.get("num_envs")
        if (
            not isinstance(name, str)
            or not isinstance(session, str)
            or not 8 <= len(session) <= 128
        ):
            raise WireError(
                ErrorCode.BAD_REQUEST,
                "hello needs 'client' (a name) and 'session' (8-128 characters) strings",
            )
        if num_envs is not None and (type(num_envs) is not int or num_envs < 1):
            raise WireError(ErrorCode.BAD_REQUEST, f"hello 'num_envs' must be >= 1: {num_envs!r}")
        offered = body.get("observations")
        specs = None if offered is None else specs_from_wire(offered, "hello observations")
        return cls(name[:200], session, specs, num_envs)


def observation_differences(
    required: Mapping[str, TensorSpec], offered: Mapping[str, TensorSpec]
) -> list[str]:
    """Why ``offered`` cannot feed a policy that needs ``required``; empty when it can.

    Extra offered keys are fine: the client sends only the keys the server requires.
    """
    problems = []
    for key, need in required.items():
        have = offered.get(key)
        if have is None:
            problems.append(f"{key!r}: required {need}, but the client does not offer it")
        elif have != need:
            problems.append(f"{key!r}: required {need}, client offers {have}")
    return problems


@runtime_checkable
class ServedPolicy(Protocol):
    """What :class:`PolicyServer` serves. ``client`` is a stable key per client session, so one
    object can keep separate state (resets, task description) for each evaluation it serves.

    Optional hooks, called when present: ``open_client(client, hello: ClientHello)`` after a
    client's first hello, ``close_client(client)`` when it says bye or is evicted.
    """

    def infer(self, obs: dict[str, np.ndarray], env_ids: np.ndarray, client: str) -> np.ndarray:
        """``[len(env_ids), chunk_length, action_dim]`` float32 (the server copies it, so a
        buffer may be reused). ``obs`` holds those envs' rows as views of the received message:
        treat them as read-only."""
        ...

    def reset(self, env_ids: np.ndarray | None, client: str) -> None:
        """Forget ``client``'s state for ``env_ids`` (all of its envs when None)."""
        ...

    def set_task_description(self, text: str, client: str) -> None: ...
