"""The remote link under failure: lost and restarted servers, slow policies, fuzzed input."""

from __future__ import annotations

import random
import threading
import time

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena_eval.remote import PolicyClient, PolicyServer, RetryPolicy, ServerUnavailable, TensorSpec
from arena_eval.remote.codec import encode
from tests.remote_helpers import (
    CALLS,
    STATE_DIM,
    TASK_LEN,
    RawPeer,
    TinyPolicy,
    free_port,
    message,
    start_server,
    stop_server,
    tiny_protocol,
)

MAX_BYTES = 1 << 20  # the helper server's max_message_bytes
OFFER = {"state": TensorSpec((STATE_DIM,))}


def _obs(rows: int = 2) -> dict[str, np.ndarray]:
    return {"state": np.zeros((rows, STATE_DIM), np.float32)}


@pytest.mark.integration
def test_client_reconnects_to_a_restarted_server_within_budget() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc, _ = start_server("--endpoint", endpoint)
    retry = RetryPolicy(budget_s=15.0, max_attempts=30, backoff_initial_s=0.1, backoff_max_s=0.5)
    restarted: list = []
    try:
        with PolicyClient(endpoint, observations=OFFER, timeout_s=1.0, retry=retry) as client:
            client.set_task_description("abc")
            client.infer(_obs(), np.array([0, 1]))
            proc.kill()
            proc.wait(5)

            def restart() -> None:
                time.sleep(0.5)
                restarted.append(start_server("--endpoint", endpoint)[0])

            thread = threading.Thread(target=restart)
            thread.start()
            started = time.monotonic()
            actions = client.infer(_obs(), np.array([0, 1])).actions
            elapsed = time.monotonic() - started
            thread.join(20)
            assert elapsed < 1.0 + retry.budget_s
            # The restarted server got the task description back before the first infer.
            assert (actions[:, 0, TASK_LEN] == 3).all()
            assert client.ping() < 1.0
    finally:
        stop_server(proc)
        for p in restarted:
            stop_server(p)


@pytest.mark.integration
@pytest.mark.parametrize("started_before", [True, False], ids=["server-died", "never-started"])
def test_lost_server_raises_server_unavailable_within_the_budget(started_before: bool) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    timeout_s, retry = 0.5, RetryPolicy(budget_s=2.0, max_attempts=50, backoff_initial_s=0.1)
    client = PolicyClient(endpoint, observations=OFFER, timeout_s=timeout_s, retry=retry)
    if started_before:
        proc, _ = start_server("--endpoint", endpoint)
        client.infer(_obs(), np.array([0, 1]))
        proc.kill()
        proc.wait(5)
        stop_server(proc)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match="did not answer") as caught:
        client.infer(_obs(), np.array([0, 1]))
    elapsed = time.monotonic() - started
    assert elapsed < timeout_s + retry.budget_s + 1.0, elapsed
    assert endpoint in str(caught.value) and "retry budget 2s" in str(caught.value)
    client.close()


@pytest.mark.integration
def test_retry_after_a_slow_reply_does_not_run_the_policy_twice() -> None:
    """The client gives up waiting and resends; the server replays its answer (same id)."""
    proc, endpoint = start_server("--delay", "0.6")
    try:
        retry = RetryPolicy(budget_s=5.0, max_attempts=5, backoff_initial_s=0.05)
        with PolicyClient(endpoint, observations=OFFER, timeout_s=0.4, retry=retry) as client:
            client.connect()
            actions = client.infer(_obs(), np.array([0, 1])).actions
            assert client.reconnects >= 1
            assert (actions[:, 0, CALLS] == 1).all()
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log


# -- fuzzing -----------------------------------------------------------------------------


def _valid_infer_frames() -> list[bytes]:
    arrays = {"state": np.zeros((2, STATE_DIM), np.float32), "image": np.zeros((2, 3), np.uint8)}
    meta = {"v": 1, "type": "infer", "id": 5, "body": {"env_ids": [0, 1]}}
    return [bytes(f) for f in encode(meta, arrays)]


def _mutations(rng: random.Random) -> list[bytes]:
    """One malformed (or merely unauthorised) message, chosen at random."""
    frames = _valid_infer_frames()
    header = msgpack.unpackb(frames[0])
    choice = rng.randrange(9)
    if choice == 0:
        return [rng.randbytes(rng.randrange(0, 300)) for _ in range(rng.randrange(1, 5))]
    if choice == 1:
        cut = rng.randrange(len(frames[0]))
        return [frames[0][:cut], *frames[1:]]
    if choice == 2:
        return [frames[0], frames[1], frames[2][: rng.randrange(len(frames[2]))]]
    if choice == 3:
        field = rng.choice(["dtype", "shape", "nbytes", "order", "name"])
        value = rng.choice([None, -1, "|O", [1, -1], 2**40, "x", [2**62, 2**62], {}, 3.5])
        header["arrays"][rng.randrange(2)][field] = value
        return [msgpack.packb(header), *frames[1:]]
    if choice == 4:
        key = rng.choice(["v", "type", "id", "body", "arrays"])
        header[key] = rng.choice([None, 7, "infer", "x" * 50, [], {"a": 1}, b"\x00", 2.5])
        return [msgpack.packb(header), *frames[1:]]
    if choice == 5:
        return [frames[0], *frames[1:], rng.randbytes(rng.randrange(50))]
    if choice == 6:
        return frames  # well formed, but this peer never said hello
    if choice == 7:
        return [b"\x00" * rng.randrange(1, 64)] * rng.randrange(1, 70)  # too many frames
    half = b"\x00" * (MAX_BYTES // 2 + 10)
    return [msgpack.packb({"v": 1, "type": "ping", "id": 1}), half, half]  # total too large


@pytest.mark.integration
def test_fuzzed_messages_get_error_replies_and_the_server_survives() -> None:
    proc, endpoint = start_server("--max-bytes", str(MAX_BYTES))
    rng = random.Random(1234)
    peer = RawPeer(endpoint)
    answered = dropped = 0
    try:
        deadline = time.monotonic() + 12.0
        for i in range(300):
            if time.monotonic() > deadline:
                break
            if i % 100 == 50:
                # One frame over ZMQ_MAXMSGSIZE: libzmq drops the connection, no reply.
                assert peer.request([b"\x00" * (MAX_BYTES + 1)], timeout_s=0.5) is None
                peer.close()
                peer = RawPeer(endpoint)
                dropped += 1
                continue
            reply = peer.request(_mutations(rng))
            assert reply is not None, f"message {i} got no reply"
            header, _ = reply
            assert header["type"] == "error", header
            assert header["body"]["code"] in {
                "malformed",
                "too_large",
                "bad_request",
                "unknown_message",
                "version_mismatch",
                "no_session",
            }
            answered += 1
        assert answered >= 100 and dropped >= 1
        assert proc.poll() is None, "the server died"
        with PolicyClient(endpoint, observations=OFFER, timeout_s=3.0) as client:
            assert client.infer(_obs(), np.array([0, 1])).actions.shape == (2, 8, 6)
    finally:
        peer.close()
        log = stop_server(proc)
    assert "internal error" not in log, log[-3000:]


_header_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_headers = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", None]),
        "type": st.sampled_from(["hello", "infer", "reset", "set_task_description", "x", 3]),
        "id": st.integers(0, 2**64 - 1) | st.text(max_size=3),
        "body": _header_values,
        "arrays": _header_values
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    k: _header_values | st.sampled_from(["<f4", "|u1", [2, 3], 24, "C", "F"])
                    for k in ("name", "dtype", "shape", "order", "nbytes")
                },
            ),
            max_size=3,
        ),
    },
)


@pytest.fixture(scope="module")
def in_process_server(tmp_path_factory):
    endpoint = f"ipc://{tmp_path_factory.mktemp('ipc')}/fuzz.sock"
    with PolicyServer(TinyPolicy(8), tiny_protocol(8), endpoint, max_message_bytes=MAX_BYTES) as s:
        yield s


@settings(max_examples=400, deadline=None)
@given(header=_headers, payload=st.lists(st.binary(max_size=40), max_size=3))
def test_any_header_gets_a_reply_and_never_an_internal_error(
    in_process_server: PolicyServer, header: dict, payload: list[bytes]
) -> None:
    reply = in_process_server.handle(b"fuzzer", [msgpack.packb(header), *payload])
    meta = msgpack.unpackb(reply[0])
    if meta["type"] == "error":
        assert meta["body"]["code"] != "internal", meta
    else:
        assert meta["type"] == header.get("type")  # a well-formed hello or similar


def test_in_process_server_answers_a_ping_after_fuzzing(in_process_server: PolicyServer) -> None:
    reply = in_process_server.handle(b"someone", message("ping", id=3))
    assert msgpack.unpackb(reply[0])["id"] == 3
