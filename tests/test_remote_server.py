"""PolicyServer + PolicyClient against a real server process over loopback."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from arena_eval.remote import (
    ActionChunkBroker,
    HandshakeMismatch,
    ObservationMismatch,
    PolicyClient,
    PolicyFailed,
    ProtocolVersionMismatch,
    RequestRejected,
    RetryPolicy,
    TensorSpec,
)
from tests.remote_helpers import (
    CALLS,
    ENV_ID,
    RESETS,
    STATE0,
    STATE_DIM,
    STEP,
    TASK_LEN,
    RawPeer,
    message,
    running_server,
    server_log,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.integration

OFFER = {"state": TensorSpec((STATE_DIM,)), "image": TensorSpec((8, 8, 3), "uint8")}


@pytest.fixture(scope="module")
def server():
    proc, endpoint = start_server("--chunk", "8")
    yield proc, endpoint
    stop_server(proc)


def _client(endpoint: str, **kwargs) -> PolicyClient:
    kwargs.setdefault("observations", OFFER)
    kwargs.setdefault("timeout_s", 3.0)
    kwargs.setdefault("retry", RetryPolicy(budget_s=2.0, max_attempts=2))
    return PolicyClient(endpoint, **kwargs)


def _state(rows: int, value: float = 0.5) -> np.ndarray:
    return np.full((rows, STATE_DIM), value, np.float32)


def test_hello_infer_reset_ping(server) -> None:
    _, endpoint = server
    with _client(endpoint, num_envs=4, name="basic") as client:
        proto = client.connect()
        assert (proto.policy_name, proto.chunk_length, proto.action_dim) == ("tiny", 8, 6)
        assert set(proto.observations) == {"state"}
        env_ids = np.array([3, 1])
        # Extra observation keys stay home: the client sends only what the policy needs.
        obs = {"state": _state(2, 0.25), "image": np.zeros((2, 8, 8, 3), np.uint8)}
        result = client.infer(obs, env_ids)
        assert result.actions.shape == (2, 8, 6) and result.actions.dtype == np.float32
        np.testing.assert_array_equal(result.actions[:, 0, ENV_ID], [3, 1])
        np.testing.assert_array_equal(result.actions[0, :, STEP], np.arange(8))
        np.testing.assert_array_equal(result.actions[:, :, STATE0], 0.25)
        assert 0 <= result.server_infer_s < result.roundtrip_s
        client.reset(np.array([1]))
        client.set_task_description("open it")
        actions = client.infer({"state": _state(2)}, env_ids).actions
        np.testing.assert_array_equal(actions[:, 0, RESETS], [0, 1])
        np.testing.assert_array_equal(actions[:, 0, TASK_LEN], len("open it"))
        client.reset()
        np.testing.assert_array_equal(
            client.infer({"state": _state(2)}, env_ids).actions[:, 0, RESETS], [1, 2]
        )
        assert 0 < client.ping() < 1.0


def test_broker_refills_each_env_when_its_chunk_runs_out(server) -> None:
    """Chunk length 8, 4 envs that reset at different steps; one batched infer per step."""
    _, endpoint = server
    num_envs, steps = 4, 40
    resets_at = {5: [1], 11: [2, 3], 12: [0], 30: [1]}
    broker = ActionChunkBroker(num_envs, action_dim=6)
    since_refill = np.zeros(num_envs, int)  # what the STEP column must read
    requests = []
    with _client(endpoint, num_envs=num_envs) as client:
        for step in range(steps):
            if step in resets_at:
                broker.reset(np.array(resets_at[step]))
                client.reset(np.array(resets_at[step]))
            need = broker.needs_chunk()
            if need.size:
                rows = np.tile(need[:, None].astype(np.float32), (1, STATE_DIM))
                broker.fill(need, client.infer({"state": rows}, need).actions)
                since_refill[need] = 0
                requests.append((step, need.tolist()))
            action = broker.pop()
            np.testing.assert_array_equal(action[:, ENV_ID], np.arange(num_envs))
            np.testing.assert_array_equal(action[:, STATE0], np.arange(num_envs))
            np.testing.assert_array_equal(action[:, STEP], since_refill)
            since_refill += 1
    assert requests[:4] == [(0, [0, 1, 2, 3]), (5, [1]), (8, [0, 2, 3]), (11, [2, 3])]
    assert (12, [0]) in requests and (13, [1]) in requests and (30, [1]) in requests
    # Every request carried all envs that needed a chunk at that step, and no other.
    assert len(requests) == len({step for step, _ in requests})


def test_two_clients_keep_separate_state(server) -> None:
    _, endpoint = server
    results: dict[str, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def evaluate(name: str, task: str, reset_env: int) -> None:
        try:
            with _client(endpoint, name=name, num_envs=2) as client:
                client.set_task_description(task)
                barrier.wait(timeout=10)
                seen = []
                for _ in range(20):
                    client.reset(np.array([reset_env]))
                    seen.append(client.infer({"state": _state(2)}, np.array([0, 1])).actions[:, 0])
                results[name] = seen
        except BaseException as err:
            errors.append(err)

    threads = [
        threading.Thread(target=evaluate, args=("alice", "pick", 0)),
        threading.Thread(target=evaluate, args=("bob", "open the door", 1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    for name, task, reset_env in (("alice", "pick", 0), ("bob", "open the door", 1)):
        for i, first_actions in enumerate(results[name]):
            assert (first_actions[:, TASK_LEN] == len(task)).all()
            assert first_actions[reset_env, RESETS] == i + 1
            assert first_actions[1 - reset_env, RESETS] == 0
            assert (first_actions[:, CALLS] == i + 1).all()


def test_handshake_mismatch_is_a_clear_error_on_both_sides(server) -> None:
    proc, endpoint = server
    offer = {"state": TensorSpec((STATE_DIM + 1,), "float64")}
    with pytest.raises(HandshakeMismatch) as caught, _client(endpoint, observations=offer) as c:
        c.connect()
    assert caught.value.details == ["'state': required float32[4], client offers float64[5]"]
    assert "float64[5]" in str(caught.value)
    assert "handshake_mismatch" in server_log(proc)
    with (
        pytest.raises(HandshakeMismatch, match="does not offer"),
        _client(endpoint, observations={"image": OFFER["image"]}) as c,
    ):
        c.connect()


def test_bad_infer_requests_get_typed_errors_and_the_server_goes_on(server) -> None:
    _, endpoint = server
    with _client(endpoint, num_envs=2) as client:
        with pytest.raises(ObservationMismatch) as caught:
            client.infer({"state": _state(2)[:, :3]}, np.array([0, 1]))
        assert "expected float32[2, 4] for 2 envs, got float32[2, 3]" in str(caught.value)
        with pytest.raises(ObservationMismatch, match="required, not sent"):
            client.infer({"other": _state(2)}, np.array([0, 1]))
        with pytest.raises(RequestRejected, match="declared 2 envs"):
            client.infer({"state": _state(1)}, np.array([5]))
        with pytest.raises(RequestRejected, match="duplicates"):
            client.infer({"state": _state(2)}, np.array([1, 1]))
        with pytest.raises(PolicyFailed, match="asked to fail"):
            client.infer({"state": _state(1, -1.0)}, np.array([0]))
        assert client.infer({"state": _state(1)}, np.array([0])).actions.shape == (1, 8, 6)


def test_version_mismatch_raises_a_specific_error(server, monkeypatch) -> None:
    _, endpoint = server
    monkeypatch.setattr("arena_eval.remote.client.PROTOCOL_VERSION", 99)
    with (
        pytest.raises(ProtocolVersionMismatch, match="v99, this server speaks v1"),
        _client(endpoint) as client,
    ):
        client.connect()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (message("infer", {"env_ids": [0]}, {"state": np.zeros((1, 4), np.float32)}), "no_session"),
        (message("reset"), "no_session"),
        (message("launch"), "unknown_message"),
        (message("ping", v=2), "version_mismatch"),
        (message("ping", v="1"), "bad_request"),
        (message("ping", id="x"), "bad_request"),
        (message("hello", {"client": 3, "session": "s" * 16}), "bad_request"),
        (
            message("hello", {"client": "c", "session": "s" * 16, "observations": [1]}),
            "bad_request",
        ),
        ([b"\x00\x01garbage"], "malformed"),
        ([message("ping")[0], b"extra frame"], "malformed"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_raw_bad_requests_get_error_replies(server, frames, code) -> None:
    _, endpoint = server
    peer = RawPeer(endpoint)
    try:
        reply = peer.request(frames)
        assert reply is not None, "no reply"
        header, _ = reply
        assert header["type"] == "error"
        assert header["body"]["code"] == code
        assert header["body"]["message"]
        if code != "malformed":
            assert header["id"] == 1 or header["body"]["code"] == "bad_request"
        assert peer.request(message("ping", id=2))[0]["id"] == 2  # still serving
    finally:
        peer.close()


def test_stale_replies_are_discarded_by_request_id(server) -> None:
    """A reply to an earlier, timed-out request must not be taken for the current one."""
    _, endpoint = server
    with _client(endpoint, num_envs=2) as client:
        client.connect()
        assert client._sock is not None
        # Inject a request whose reply the client never waited for.
        client._sock.send_multipart(message("ping", id=10_000))
        assert client.infer({"state": _state(1)}, np.array([0])).actions.shape == (1, 8, 6)


def test_kill_stops_the_server_process() -> None:
    proc, endpoint = start_server()
    try:
        with _client(endpoint) as client:
            client.connect()
            client.kill()
        assert proc.wait(5) == 0
    finally:
        log = stop_server(proc)
    assert "kill requested" in log and "listening on tcp://127.0.0.1:" in log


def test_sigterm_stops_the_server_cleanly() -> None:
    with running_server() as (proc, endpoint):
        with _client(endpoint) as client:
            client.ping()
        proc.terminate()
        assert proc.wait(5) == 0
