"""Codec, protocol records, chunk broker and endpoint checks of the remote library (no sockets)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from arena_eval.remote import ActionChunkBroker, ActionProtocol, TensorSpec, is_loopback
from arena_eval.remote.codec import EncodeError, Limits, decode_arrays, decode_header, encode
from arena_eval.remote.errors import ErrorCode, WireError
from arena_eval.remote.protocol import observation_differences

LIMITS = Limits(max_message_bytes=1 << 20, max_header_bytes=4096, max_arrays=8)
WIRE_DTYPES = [
    np.bool_,
    np.uint8,
    np.int8,
    np.uint16,
    np.int16,
    np.uint32,
    np.int32,
    np.uint64,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
]


def _wire(frames: list) -> list[bytes]:
    """What a receiver gets: independent byte strings (proves nothing aliases the sender)."""
    return [bytes(memoryview(f)) for f in frames]


def _roundtrip(arrays: dict[str, np.ndarray], meta: dict | None = None):
    frames = encode(meta or {"v": 1}, arrays)
    received = _wire(frames)
    header = decode_header(received, LIMITS)
    return header, decode_arrays(header, received, LIMITS)


def _layouts(arr: np.ndarray) -> st.SearchStrategy[np.ndarray]:
    """The array as it is, transposed (F order), strided (neither order) or big-endian."""
    options = [arr, arr.T, arr.astype(arr.dtype.newbyteorder(">"))]
    if arr.ndim >= 1:
        options.append(arr[::2])
    if arr.ndim >= 2:
        options.append(arr[:, ::-1])
    return st.sampled_from(options)


arrays_strategy = hnp.arrays(
    dtype=st.sampled_from(WIRE_DTYPES),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
).flatmap(_layouts)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), arrays_strategy, max_size=4))
def test_roundtrip_keeps_values_dtypes_and_shapes(arrays: dict[str, np.ndarray]) -> None:
    header, decoded = _roundtrip(arrays, {"v": 1, "type": "x", "body": {"a": [1, "b"]}})
    assert header["body"] == {"a": [1, "b"]}
    assert list(decoded) == list(arrays)
    for name, original in arrays.items():
        got = decoded[name]
        assert got.shape == original.shape
        assert got.dtype == original.dtype.newbyteorder("<")  # big-endian is normalised
        assert got.dtype.str in {"|b1", "|u1", "|i1"} or got.dtype.str.startswith("<")
        np.testing.assert_array_equal(got, original)


def test_contiguous_arrays_are_sent_and_received_without_copies() -> None:
    c_order = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    f_order = np.asfortranarray(c_order)
    frames = encode({"v": 1}, {"c": c_order, "f": f_order})
    assert np.shares_memory(frames[1], c_order)
    assert np.shares_memory(frames[2], f_order)
    header = msgpack.unpackb(frames[0])
    assert [d["order"] for d in header["arrays"]] == ["C", "F"]
    received = [bytearray(memoryview(f)) for f in frames]
    decoded = decode_arrays(decode_header(received, LIMITS), received, LIMITS)
    received[1][:4] = b"\x00\x00\x80\x3f"  # the decoded array is a view of the frame
    assert decoded["c"][0, 0, 0] == 1.0
    np.testing.assert_array_equal(decoded["f"], f_order)


@pytest.mark.parametrize(
    "value",
    [
        np.array([object(), 1], dtype=object),
        np.array(["text"]),
        np.zeros(2, dtype=[("a", "<f4")]),
        np.zeros(2, dtype=np.complex64),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
    ],
)
def test_unsupported_dtypes_are_refused_on_encode(value: np.ndarray) -> None:
    with pytest.raises(EncodeError, match="cannot be sent"):
        encode({"v": 1}, {"x": value})


def _valid(shape=(2, 3), dtype="<f4") -> tuple[dict, list]:
    arr = np.zeros(shape, dtype=dtype)
    frames = _wire(encode({"v": 1, "type": "infer", "id": 7}, {"x": arr}))
    return msgpack.unpackb(frames[0]), frames


def _with(header_change: dict, frames_change=None) -> list:
    header, frames = _valid()
    header["arrays"][0].update(header_change)
    frames = [msgpack.packb(header), *frames[1:]]
    return frames_change(frames) if frames_change else frames


MALFORMED = {
    "garbage header": [b"\xc1\xff\x00garbage"],
    "empty header frame": [b""],
    "header not a map": [msgpack.packb([1, 2, 3])],
    "trailing bytes": [msgpack.packb({"v": 1}) + b"\x00"],
    "ext type": [msgpack.packb({"v": msgpack.ExtType(5, b"xx")})],
    "truncated array frame": _with({}, lambda f: [f[0], f[1][:-3]]),
    "missing array frame": _with({}, lambda f: f[:1]),
    "extra frame": _with({}, lambda f: [*f, b"1234"]),
    "nbytes lies": _with({"nbytes": 999}),
    "object dtype": _with({"dtype": "|O"}),
    "big-endian dtype": _with({"dtype": ">f4"}),
    "unknown dtype": _with({"dtype": "float32"}),
    "negative dim": _with({"shape": [-2, -3]}),
    "float dim": _with({"shape": [2.0, 3]}),
    "too many dims": _with({"shape": [1] * 9}),
    "bad order": _with({"order": "K"}),
    "name not a string": _with({"name": 5}),
    "nbytes not int": _with({"nbytes": "24"}),
    "descriptors not a list": [msgpack.packb({"v": 1, "arrays": {"x": 1}}), b""],
}


@pytest.mark.parametrize("frames", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_messages_are_rejected_before_arrays_are_built(frames: list) -> None:
    with pytest.raises(WireError) as caught:
        header = decode_header(frames, LIMITS)
        decode_arrays(header, frames, LIMITS)
    assert caught.value.code == ErrorCode.MALFORMED
    assert caught.value.message


@pytest.mark.parametrize(
    "frames",
    [
        [msgpack.packb({"v": 1, "pad": "x" * 5000})],  # header over max_header_bytes
        [msgpack.packb({"v": 1})] + [b""] * 9,  # more frames than max_arrays + 1
        _with({"shape": [1 << 20, 1 << 20], "nbytes": 4 << 40}),  # absurd declared shape
        _with({}, lambda f: [f[0], f[1] + b"\x00" * (1 << 20)]),  # total over the limit
    ],
    ids=["header", "frame count", "shape product", "total size"],
)
def test_oversize_messages_are_rejected_as_too_large(frames: list) -> None:
    with pytest.raises(WireError) as caught:
        header = decode_header(frames, LIMITS)
        decode_arrays(header, frames, LIMITS)
    assert caught.value.code == ErrorCode.TOO_LARGE


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_random_frames_never_crash_the_decoder(frames: list[bytes]) -> None:
    try:
        header = decode_header(frames, LIMITS)
        decode_arrays(header, frames, LIMITS)
    except WireError as err:
        assert err.code in (ErrorCode.MALFORMED, ErrorCode.TOO_LARGE)


def test_tensor_spec_and_action_protocol_survive_the_wire() -> None:
    proto = ActionProtocol(
        {"image": TensorSpec((8, 8, 3), "uint8"), "state": TensorSpec([4], np.float32)},
        action_dim=7,
        chunk_length=8,
        horizon=16,
        control_hz=10.0,
        policy_name="p",
        metadata={"k": 1},
    )
    assert ActionProtocol.from_wire(msgpack.unpackb(msgpack.packb(proto.to_wire()))) == proto
    with pytest.raises(ValueError, match="horizon"):
        ActionProtocol({}, action_dim=2, chunk_length=4, horizon=2)
    with pytest.raises(ValueError, match="cannot go on the wire"):
        TensorSpec((1,), "complex64")


def test_observation_differences_list_every_problem() -> None:
    required = {"image": TensorSpec((8, 8, 3), "uint8"), "state": TensorSpec((4,))}
    offered = {"image": TensorSpec((8, 8, 3), "float32"), "extra": TensorSpec((1,))}
    problems = observation_differences(required, offered)
    assert len(problems) == 2
    assert "'image': required uint8[8, 8, 3], client offers float32[8, 8, 3]" in problems
    assert any("'state'" in p and "does not offer" in p for p in problems)
    assert observation_differences(required, {**required, "extra": TensorSpec((1,))}) == []


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://127.3.2.1:5555", True),
        ("tcp://localhost:5555", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/policy.sock", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://10.0.0.2:5555", False),
        ("tcp://[::]:5555", False),
        ("tcp://policy-host:5555", False),
    ],
)
def test_is_loopback(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback


@pytest.mark.parametrize("endpoint", ["127.0.0.1:5555", "udp://127.0.0.1:5", "tcp://127.0.0.1"])
def test_malformed_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        is_loopback(endpoint)


def test_broker_hands_out_one_action_per_env_per_step() -> None:
    broker = ActionChunkBroker(num_envs=3, action_dim=2)
    np.testing.assert_array_equal(broker.needs_chunk(), [0, 1, 2])
    with pytest.raises(RuntimeError, match="no action left"):
        broker.pop()
    chunks = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    broker.fill(np.array([0, 1, 2]), chunks)
    for step in range(4):
        assert broker.needs_chunk().size == 0
        np.testing.assert_array_equal(broker.pop(), chunks[:, step])
    np.testing.assert_array_equal(broker.needs_chunk(), [0, 1, 2])
    broker.fill(np.array([0, 1, 2]), chunks)
    broker.reset(np.array([1]))
    np.testing.assert_array_equal(broker.needs_chunk(), [1])
    broker.fill(np.array([1]), np.full((1, 6, 2), 9, np.float32))  # a longer chunk grows
    np.testing.assert_array_equal(broker.pop(), [chunks[0, 0], [9, 9], chunks[2, 0]])
    np.testing.assert_array_equal(broker.remaining(), [3, 5, 3])
    broker.reset()
    np.testing.assert_array_equal(broker.needs_chunk(), [0, 1, 2])
    with pytest.raises(ValueError, match="do not fit"):
        broker.fill(np.array([0]), np.zeros((1, 4, 3)))
