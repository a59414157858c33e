"""Security rules of the policy server: bind refusal, insecure warning, CURVE, kill, key files."""

from __future__ import annotations

import logging
import stat
import time

import msgpack
import numpy as np
import pytest
import zmq.auth

from arena_eval.remote import (
    AuthenticationRefused,
    ClientCurve,
    InsecureBindError,
    PolicyClient,
    PolicyServer,
    RetryPolicy,
    ServerCurve,
    ServerUnavailable,
    TensorSpec,
    generate_keypair,
)
from tests.remote_helpers import (
    STATE_DIM,
    TinyPolicy,
    message,
    start_server,
    stop_server,
    tiny_protocol,
)

OFFER = {"state": TensorSpec((STATE_DIM,))}
# Binding an interface by name counts as non-loopback, yet "lo" never leaves this machine:
# the insecure and CURVE paths are exercised without opening a port to the network.
LOOPBACK_BY_NAME = "tcp://lo:*"


@pytest.mark.parametrize(
    "endpoint", ["tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://10.1.2.3:5555", LOOPBACK_BY_NAME]
)
def test_non_loopback_bind_without_keys_refuses_to_start(endpoint: str) -> None:
    with pytest.raises(InsecureBindError) as caught:
        PolicyServer(TinyPolicy(8), tiny_protocol(8), endpoint)
    text = str(caught.value)
    assert endpoint in text and "CURVE" in text and "insecure=True" in text


def _kill_reply(server: PolicyServer) -> dict:
    return msgpack.unpackb(server.handle(b"peer", message("kill"))[0])


def test_insecure_bind_warns_loudly_and_refuses_kill(caplog) -> None:
    caplog.set_level(logging.INFO, logger="arena_eval.remote")
    with PolicyServer(TinyPolicy(8), tiny_protocol(8), LOOPBACK_BY_NAME, insecure=True) as server:
        reply = _kill_reply(server)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("INSECURE" in r.getMessage() for r in warnings)
    assert reply["type"] == "error" and reply["body"]["code"] == "not_permitted"
    assert reply["body"]["message"].startswith("kill not permitted")


def test_kill_is_honoured_on_loopback_without_keys(tmp_path) -> None:
    with PolicyServer(TinyPolicy(8), tiny_protocol(8), f"ipc://{tmp_path}/s.sock") as server:
        assert _kill_reply(server)["body"] == {"stopping": True}


def test_generate_keypair_writes_zmq_certificates(tmp_path) -> None:
    public, secret = generate_keypair(tmp_path / "keys", "alice")
    assert (public.name, secret.name) == ("alice.key", "alice.key_secret")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    pub_key, no_secret = zmq.auth.load_certificate(str(public))
    assert no_secret is None and zmq.auth.load_certificate(str(secret))[0] == pub_key
    with pytest.raises(FileExistsError, match="already exists"):
        generate_keypair(tmp_path / "keys", "alice")


@pytest.fixture(scope="module")
def curve_keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("curve")
    _, server_secret = generate_keypair(root, "server")
    good_public, good_secret = generate_keypair(root, "good")
    _, bad_secret = generate_keypair(root, "stranger")
    allowed = root / "allowed"
    allowed.mkdir()
    (allowed / "good.key").write_bytes(good_public.read_bytes())
    return {
        "server_secret": server_secret,
        "server_public": root / "server.key",
        "allowed": allowed,
        "good": good_secret,
        "bad": bad_secret,
    }


@pytest.mark.integration
def test_curve_admits_allowed_keys_only_and_lets_them_kill(curve_keys) -> None:
    proc, endpoint = start_server(
        "--server-key", str(curve_keys["server_secret"]), "--allowed", str(curve_keys["allowed"])
    )
    retry = RetryPolicy(budget_s=1.0, max_attempts=2)
    try:
        stranger = ClientCurve(curve_keys["bad"], curve_keys["server_public"])
        started = time.monotonic()
        with pytest.raises(AuthenticationRefused, match="allowed-clients") as caught:
            PolicyClient(endpoint, curve=stranger, timeout_s=3.0, retry=retry).connect()
        assert time.monotonic() - started < 3.0  # refused at the handshake, not by a timeout
        assert isinstance(caught.value, ServerUnavailable)

        started = time.monotonic()
        with pytest.raises(ServerUnavailable):  # no keys at all: nothing to talk to
            PolicyClient(endpoint, timeout_s=0.5, retry=retry).connect()
        assert time.monotonic() - started < 0.5 + retry.budget_s + 1.0

        friend = ClientCurve(curve_keys["good"], curve_keys["server_public"])
        with PolicyClient(endpoint, curve=friend, observations=OFFER, timeout_s=3.0) as client:
            obs = {"state": np.zeros((1, STATE_DIM), np.float32)}
            assert client.infer(obs, np.array([0])).actions.shape == (1, 8, 6)
            client.kill()
        assert proc.wait(5) == 0
    finally:
        log = stop_server(proc)
    assert "CURVE on: 1 allowed client key(s)" in log
    for secret_file in ("server_secret", "good", "bad"):
        _, secret = zmq.auth.load_certificate(str(curve_keys[secret_file]))
        assert secret.decode() not in log


def test_curve_server_needs_a_secret_key_file(curve_keys) -> None:
    curve = ServerCurve(curve_keys["server_public"], curve_keys["allowed"])
    with pytest.raises(ValueError, match="no secret key"):
        PolicyServer(TinyPolicy(8), tiny_protocol(8), "tcp://127.0.0.1:*", curve=curve)
