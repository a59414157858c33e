"""Serve a configured policy over ZMQ (``arena-eval-server``): what job.py is for evaluation.

Builds the env spec the config describes (no simulator), adapts the configured Policy to the
remote library's ServedPolicy (one Policy instance per client), and runs a PolicyServer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from arena_eval.config import ConfigError, validate
from arena_eval.envs import spec_from_job
from arena_eval.envs.base import EnvSpec
from arena_eval.policies.base import Policy, make_policy
from arena_eval.remote import (
    ActionProtocol,
    ClientHello,
    PolicyServer,
    ServerCurve,
    TensorSpec,
    generate_keypair,
)
from arena_eval.remote.codec import Limits

log = logging.getLogger("arena_eval")


@dataclasses.dataclass
class ServerSettings:
    """The ``server`` config group. Non-loopback hosts need CURVE keys or ``insecure=true``."""

    host: str = "127.0.0.1"
    port: int = 5555
    endpoint: str | None = None  # tcp://host:port or ipc:///path; overrides host/port
    insecure: bool = False
    secret_key_file: str | None = None  # CURVE: this server's '.key_secret'
    allowed_clients: str | None = None  # CURVE: folder of the clients' '.key' files
    max_message_bytes: int = Limits.max_message_bytes
    max_clients: int = 16

    def resolved_endpoint(self) -> str:
        if self.endpoint:
            return self.endpoint
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    def curve(self) -> ServerCurve | None:
        if self.secret_key_file is None and self.allowed_clients is None:
            return None
        if self.secret_key_file is None or self.allowed_clients is None:
            raise ConfigError(
                "CURVE needs both server.secret_key_file (this server's '.key_secret') and "
                "server.allowed_clients (a folder of the clients' '.key' files); "
                "make keys with `arena-eval-server keygen`"
            )
        return ServerCurve(self.secret_key_file, self.allowed_clients)


def server_settings(cfg: Any) -> ServerSettings:
    """``cfg.server`` as ServerSettings; unknown keys are an error that lists the valid ones."""
    node = cfg.get("server") if hasattr(cfg, "get") else None
    params = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    params = dict(params or {})
    fields = {f.name for f in dataclasses.fields(ServerSettings)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(
            f"server: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    return ServerSettings(**params)


class ServedPolicyAdapter:
    """A configured Policy per client, behind the remote library's ServedPolicy interface.

    Each client gets its own Policy instance, built on its hello with the client's num_envs,
    so resets and task descriptions of two evaluations never mix.
    """

    def __init__(self, policy_cfg: Mapping[str, Any], spec: EnvSpec) -> None:
        self.policy_cfg = dict(policy_cfg)
        self.spec = spec
        # Built now so a bad policy config fails at startup; handed to the first client.
        self._spare: Policy | None = make_policy(self.policy_cfg, spec)
        chunk = max(1, int(getattr(self._spare, "chunk_length", 1)))
        self._protocol = ActionProtocol(
            observations={k: TensorSpec(s.shape, s.dtype) for k, s in spec.observations.items()},
            action_dim=spec.action_dim,
            chunk_length=chunk,
            horizon=chunk,
            control_hz=spec.control_hz,
            policy_name=str(self.policy_cfg.get("name") or self.policy_cfg.get("_target_")),
            action_mode=spec.action_mode,
            metadata={"task": spec.task, "embodiment": spec.embodiment},
        )
        self._policies: dict[str, Policy] = {}

    def protocol(self) -> ActionProtocol:
        return self._protocol

    def open_client(self, client: str, hello: ClientHello) -> None:
        num_envs = hello.num_envs or self.spec.num_envs
        spare, self._spare = self._spare, None
        if spare is not None and spare.spec.num_envs == num_envs:
            policy = spare
        else:
            if spare is not None:
                spare.close()
            policy = make_policy(self.policy_cfg, dataclasses.replace(self.spec, num_envs=num_envs))
        self._policies[client] = policy

    def close_client(self, client: str) -> None:
        policy = self._policies.pop(client, None)
        if policy is not None:
            policy.close()

    def _policy(self, client: str) -> Policy:
        try:
            return self._policies[client]
        except KeyError:
            raise RuntimeError(
                f"no policy for client {client!r}; it must say hello first"
            ) from None

    def infer(self, obs: dict[str, np.ndarray], env_ids: np.ndarray, client: str) -> np.ndarray:
        chunk = self._policy(client).get_action_chunk(obs, env_ids)
        if hasattr(chunk, "detach"):  # a torch tensor, without importing torch here
            chunk = chunk.detach().cpu().numpy()
        return np.asarray(chunk, dtype=np.float32)

    def reset(self, env_ids: np.ndarray | None, client: str) -> None:
        self._policy(client).reset(env_ids)

    def set_task_description(self, text: str, client: str) -> None:
        self._policy(client).set_task_description(text)

    def close(self) -> None:
        for client in list(self._policies):
            self.close_client(client)
        if self._spare is not None:
            self._spare.close()
            self._spare = None


def build_server(
    cfg: Any, settings: ServerSettings | None = None
) -> tuple[PolicyServer, ServedPolicyAdapter]:
    """The server for a composed config (policy, env, embodiment, object, num_envs, server)."""
    job = validate(cfg)
    settings = settings or server_settings(cfg)
    spec = spec_from_job(job)
    adapter = ServedPolicyAdapter(job.policy, spec)
    try:
        server = PolicyServer(
            adapter,
            adapter.protocol(),
            settings.resolved_endpoint(),
            curve=settings.curve(),
            insecure=settings.insecure,
            max_message_bytes=settings.max_message_bytes,
            max_clients=settings.max_clients,
        )
    except BaseException:
        adapter.close()
        raise
    return server, adapter


def run_server(cfg: Any, settings: ServerSettings | None = None) -> None:
    """Serve until kill, SIGINT or SIGTERM."""
    server, adapter = build_server(cfg, settings)
    proto = adapter.protocol()
    log.info(
        "serving policy %r for %s / %s: observations %s, action_dim %d, chunk %d",
        proto.policy_name,
        adapter.spec.task,
        adapter.spec.embodiment,
        ", ".join(f"{k} {s}" for k, s in proto.observations.items()),
        proto.action_dim,
        proto.chunk_length,
    )
    try:
        server.serve_forever()
    finally:
        server.close()
        adapter.close()


def keygen(directory: str | Path, name: str) -> tuple[Path, Path]:
    """``arena-eval-server keygen``: write ``name.key`` (share) and ``name.key_secret`` (keep)."""
    public, secret = generate_keypair(directory, name)
    log.info("wrote %s (public: give it to the other side) and %s (secret: keep)", public, secret)
    return public, secret
