"""Security for the policy server: loopback checks, CurveZMQ key files and client allow-lists.

Key files are zmq.auth certificates: ``name.key`` (public) and ``name.key_secret`` (both keys).
Secret keys are read into sockets only; nothing here logs or returns them as text.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


class KeyFileError(ValueError):
    """A CURVE key file is missing or not a zmq certificate."""


@dataclass(frozen=True)
class ServerCurve:
    """The server's key pair file and the public keys of the clients it admits.

    ``allowed_clients`` is a folder (every ``*.key`` in it) or a list of ``.key`` files.
    """

    secret_key_file: PathLike
    allowed_clients: PathLike | Sequence[PathLike]


@dataclass(frozen=True)
class ClientCurve:
    """The client's key pair file and the server's public key file."""

    secret_key_file: PathLike
    server_public_key_file: PathLike


def generate_keypair(directory: PathLike, name: str, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``<directory>/<name>.key`` and ``<name>.key_secret``; return (public, secret) paths.

    Give the ``.key`` file to the other side; keep ``.key_secret`` private (mode 0600).
    """
    directory = Path(directory)
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    if not overwrite and (public.exists() or secret.exists()):
        raise FileExistsError(
            f"{public} or {secret} already exists; pick another name or pass overwrite=True"
        )
    directory.mkdir(parents=True, exist_ok=True)
    zmq.auth.create_certificates(str(directory), name)
    secret.chmod(0o600)
    return public, secret


def _load(path: PathLike, want_secret: bool) -> tuple[bytes, bytes | None]:
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(f"CURVE key file {path} does not exist")
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as err:
        raise KeyFileError(f"{path} is not a zmq certificate file: {err}") from None
    if want_secret and secret is None:
        raise KeyFileError(
            f"{path} holds no secret key; pass the '.key_secret' file (see generate_keypair)"
        )
    return public, secret


def load_allowed_keys(allowed: PathLike | Sequence[PathLike]) -> frozenset[bytes]:
    """Public keys (z85) from a folder of ``*.key`` files or from a list of key files."""
    if isinstance(allowed, str | os.PathLike) and Path(allowed).is_dir():
        files = sorted(Path(allowed).glob("*.key"))
    elif isinstance(allowed, str | os.PathLike):
        files = [Path(allowed)]
    else:
        files = [Path(p) for p in allowed]
    keys = frozenset(_load(f, want_secret=False)[0] for f in files)
    if not keys:
        raise KeyFileError(
            f"no allowed client keys found in {allowed}; put clients' '.key' files there"
        )
    return keys


class _AllowList:
    """ThreadAuthenticator credentials provider: admit exactly the listed public keys."""

    def __init__(self, keys: frozenset[bytes]) -> None:
        self._keys = keys

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self._keys


def secure_server_socket(
    context: zmq.Context, sock: zmq.Socket, curve: ServerCurve
) -> ThreadAuthenticator:
    """Make ``sock`` a CURVE server that admits only ``curve.allowed_clients``.

    Call before bind. Returns the running authenticator; stop it when the socket closes.
    """
    public, secret = _load(curve.secret_key_file, want_secret=True)
    allowed = load_allowed_keys(curve.allowed_clients)
    authenticator = ThreadAuthenticator(context, log=logging.getLogger(__name__ + ".zap"))
    authenticator.start()
    authenticator.configure_curve_callback(domain="*", credentials_provider=_AllowList(allowed))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    log.info("CURVE on: %d allowed client key(s)", len(allowed))
    return authenticator


def secure_client_socket(sock: zmq.Socket, curve: ClientCurve) -> None:
    """Make ``sock`` a CURVE client of the server whose public key file is given. Before connect."""
    public, secret = _load(curve.secret_key_file, want_secret=True)
    server_public, _ = _load(curve.server_public_key_file, want_secret=False)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public


def endpoint_host(endpoint: str) -> str | None:
    """The host part of a ``tcp://host:port`` endpoint; None for ipc:// and inproc://."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        raise ValueError(f"endpoint {endpoint!r} needs a scheme: tcp://host:port or ipc://path")
    if scheme in ("ipc", "inproc"):
        return None
    if scheme != "tcp":
        raise ValueError(f"endpoint {endpoint!r}: only tcp://, ipc:// and inproc:// are supported")
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not port:
        raise ValueError(f"endpoint {endpoint!r} needs a host and a port: tcp://127.0.0.1:5555")
    return host.strip("[]")


def is_loopback(endpoint: str) -> bool:
    """True when only this machine can reach ``endpoint`` (loopback tcp, ipc, inproc).

    Host names other than ``localhost`` and interface names count as reachable from outside:
    they are not resolved, so the answer never depends on DNS.
    """
    host = endpoint_host(endpoint)
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
