"""policy=remote: the simulation side of server-client evaluation.

Asks a policy server (``arena-eval-server``) for action chunks, one batched request per step for
every env whose chunk ran out, and plays them out one action per step.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from arena_eval.envs.base import EnvSpec
from arena_eval.policies.base import Policy, PolicyError, register_policy
from arena_eval.remote import (
    ActionChunkBroker,
    ClientCurve,
    HandshakeMismatch,
    PolicyClient,
    RemoteError,
    RetryPolicy,
    ServerUnavailable,
    TensorSpec,
)

log = logging.getLogger(__name__)


@register_policy("remote")
class RemotePolicy(Policy):
    """A policy served by another process or machine; see docs/remote_protocol.md."""

    @dataclasses.dataclass
    class Config:
        host: str = "127.0.0.1"
        port: int = 5555
        endpoint: str | None = None  # tcp://host:port or ipc:///path; overrides host/port
        timeout_s: float = 10.0  # longest wait for one reply
        retry_budget_s: float = 30.0  # extra time to reconnect and retry before giving up
        retry_attempts: int = 5
        kill_on_exit: bool = False  # stop the server when this evaluation ends
        client_name: str = "arena-eval"
        # CURVE (both or neither): this client's '.key_secret' file (it holds the public key
        # too) and the server's public '.key' file. See `arena-eval-server keygen`.
        client_secret_key_file: str | None = None
        server_public_key_file: str | None = None

    def __init__(self, config: Config, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        self.endpoint = config.endpoint or _tcp_endpoint(config.host, config.port)
        curve = _curve(config)
        offered = {k: TensorSpec(s.shape, s.dtype) for k, s in spec.observations.items()}
        self._client = PolicyClient(
            self.endpoint,
            name=f"{config.client_name}:{spec.task}",
            observations=offered,
            num_envs=spec.num_envs,
            timeout_s=config.timeout_s,
            retry=RetryPolicy(budget_s=config.retry_budget_s, max_attempts=config.retry_attempts),
            curve=curve,
        )
        try:
            self.protocol = self._client.connect()
        except HandshakeMismatch as err:
            self._client.close()
            raise PolicyError(
                f"policy=remote: the policy served at {self.endpoint} does not fit env "
                f"{spec.task!r} with embodiment {spec.embodiment!r}: {err}"
            ) from None
        except ServerUnavailable as err:
            self._client.close()
            raise PolicyError(
                f"policy=remote: {err}\nStart one with `arena-eval-server policy=<name> "
                "server.port=<port>`, or point policy.host/policy.port (or policy.endpoint) at it."
            ) from None
        self._check_actions(spec)
        self.chunk_length = self.protocol.chunk_length
        self._keys = list(self.protocol.observations)
        self._broker = ActionChunkBroker(spec.num_envs, spec.action_dim)
        self._roundtrip_s: list[float] = []
        self._server_s: list[float] = []
        self._envs_per_call: list[int] = []
        log.info(
            "remote policy %r at %s: chunk %d, horizon %s",
            self.protocol.policy_name,
            self.endpoint,
            self.protocol.chunk_length,
            self.protocol.horizon,
        )

    def _check_actions(self, spec: EnvSpec) -> None:
        proto = self.protocol
        problems = []
        if proto.action_dim != spec.action_dim:
            problems.append(
                f"action_dim: the server sends {proto.action_dim}, {spec.embodiment} "
                f"({spec.action_mode}) takes {spec.action_dim}"
            )
        if proto.action_mode and proto.action_mode != spec.action_mode:
            problems.append(
                f"action_mode: the server sends {proto.action_mode!r}, the env takes "
                f"{spec.action_mode!r}"
            )
        if problems:
            self._client.close()
            raise PolicyError(
                f"policy=remote: the policy served at {self.endpoint} "
                f"({proto.policy_name!r}) does not fit this env:\n  - " + "\n  - ".join(problems)
            )
        if proto.control_hz and not math.isclose(proto.control_hz, spec.control_hz, rel_tol=1e-3):
            log.warning(
                "remote policy %r was made for %g Hz control; this env steps at %g Hz",
                proto.policy_name,
                proto.control_hz,
                spec.control_hz,
            )

    def get_action(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        need = self._broker.needs_chunk()
        if need.size:
            if need.size == self.spec.num_envs:
                rows = {k: obs[k] for k in self._keys}  # every env: send as is, no copy
            else:
                rows = {k: np.asarray(obs[k])[need] for k in self._keys}
            result = self._client.infer(rows, need)
            self._broker.fill(need, result.actions)
            self._roundtrip_s.append(result.roundtrip_s)
            self._server_s.append(result.server_infer_s)
            self._envs_per_call.append(int(need.size))
        return self._broker.pop()

    def reset(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        ids = None if env_ids is None else np.asarray(env_ids, dtype=np.int64).reshape(-1)
        if ids is not None and ids.size == 0:
            return
        self._broker.reset(ids)
        self._client.reset(ids)

    def set_task_description(self, text: str) -> None:
        self._client.set_task_description(text)

    def stats(self) -> dict:
        """Latency split into the server's model time and the rest (network + codec)."""
        roundtrip = np.asarray(self._roundtrip_s)
        server = np.asarray(self._server_s)
        return {
            "endpoint": self.endpoint,
            "policy_name": self.protocol.policy_name,
            "chunk_length": self.protocol.chunk_length,
            "infer_calls": len(self._roundtrip_s),
            "envs_per_call_mean": float(np.mean(self._envs_per_call))
            if self._envs_per_call
            else 0.0,
            "reconnects": self._client.reconnects,
            "roundtrip_ms": _summary(roundtrip),
            "server_infer_ms": _summary(server),
            "network_ms": _summary(roundtrip - server),
        }

    def close(self) -> None:
        if self.config.kill_on_exit:
            try:
                self._client.kill()
            except RemoteError as err:
                log.warning("could not stop the policy server at %s: %s", self.endpoint, err)
        self._client.close()


def _summary(seconds: np.ndarray) -> dict[str, float]:
    seconds = seconds[np.isfinite(seconds)]
    if not seconds.size:
        return {}
    ms = seconds * 1e3
    return {
        "mean": float(ms.mean()),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
    }


def _tcp_endpoint(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def _curve(config: RemotePolicy.Config) -> ClientCurve | None:
    secret, server = config.client_secret_key_file, config.server_public_key_file
    if secret is None and server is None:
        return None
    if secret is None or server is None:
        raise PolicyError(
            "policy=remote: CURVE needs both policy.client_secret_key_file (this client's "
            "'.key_secret') and policy.server_public_key_file (the server's '.key')"
        )
    return ClientCurve(secret, server)
