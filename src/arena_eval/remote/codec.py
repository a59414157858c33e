"""Wire codec: one msgpack header frame followed by numpy arrays as separate, zero-copy frames.

Never pickles. Decoding validates the header (frame count, dtype whitelist, shapes, byte counts)
before any array is built, and builds arrays as views of the received frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from .errors import ErrorCode, WireError

# Little-endian (or byte-order-free) numeric dtypes only, as numpy's dtype.str spells them.
WIRE_DTYPES = frozenset(
    {"|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8"}
)
_DTYPES = {name: np.dtype(name) for name in WIRE_DTYPES}
MAX_NDIM = 8


@dataclass(frozen=True)
class Limits:
    """What a receiver accepts. The defaults suit tens of envs with a few camera images."""

    max_message_bytes: int = 256 * 1024 * 1024
    max_header_bytes: int = 1024 * 1024
    max_arrays: int = 64


class EncodeError(ValueError):
    """An array cannot go on the wire (object, string or structured dtype)."""


def encode(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list[Any]:
    """Frames for one message: the msgpack header, then one buffer per array.

    ``meta`` must hold only msgpack-able values; its ``arrays`` key is written here. Contiguous
    arrays are sent as views (no copy); other layouts are copied once into C order; big-endian
    arrays are converted to little-endian.
    """
    descriptors: list[dict[str, Any]] = []
    buffers: list[Any] = []
    for name, value in (arrays or {}).items():
        arr = value if type(value) is np.ndarray else np.asarray(value)
        if arr.dtype.str.startswith(">"):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        wire_dtype = arr.dtype.str
        if wire_dtype not in WIRE_DTYPES:
            raise EncodeError(
                f"array {name!r} has dtype {arr.dtype!r}, which cannot be sent; supported: "
                "bool, (u)int8..64, float16/32/64. Convert it (object arrays are never pickled)."
            )
        if arr.flags.c_contiguous:
            order, flat = "C", arr.reshape(-1)
        elif arr.flags.f_contiguous:
            order, flat = "F", arr.reshape(-1, order="F")
        else:
            order, flat = "C", np.ascontiguousarray(arr).reshape(-1)
        descriptors.append(
            {
                "name": str(name),
                "dtype": wire_dtype,
                "shape": list(arr.shape),
                "order": order,
                "nbytes": arr.nbytes,
            }
        )
        buffers.append(flat.view(np.uint8))
    header = msgpack.packb({**meta, "arrays": descriptors}, use_bin_type=True)
    return [header, *buffers]


def _buffer(frame: Any) -> memoryview:
    # zmq.Frame, bytes, numpy arrays: anything with the buffer protocol, viewed without a copy.
    return memoryview(frame)


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed in a header")


def decode_header(frames: Sequence[Any], limits: Limits) -> dict[str, Any]:
    """Check the frame count and the header's size, then unpack the header frame into a dict.

    Cheap enough to run before anything else, so error replies can echo the request id.
    """
    if not frames:
        raise WireError(ErrorCode.MALFORMED, "empty message: expected a msgpack header frame")
    if len(frames) > 1 + limits.max_arrays:
        raise WireError(
            ErrorCode.TOO_LARGE,
            f"message has {len(frames)} frames; at most {1 + limits.max_arrays} are accepted",
        )
    head = _buffer(frames[0])
    if head.nbytes > limits.max_header_bytes:
        raise WireError(
            ErrorCode.TOO_LARGE,
            f"header frame is {head.nbytes} bytes; at most {limits.max_header_bytes} accepted",
        )
    try:
        header = msgpack.unpackb(head, raw=False, strict_map_key=True, ext_hook=_no_ext)
    except Exception as err:  # msgpack raises several unrelated types for bad input
        raise WireError(
            ErrorCode.MALFORMED,
            f"first frame is not a msgpack header ({type(err).__name__}: {err})",
        ) from None
    if not isinstance(header, dict):
        raise WireError(
            ErrorCode.MALFORMED, f"header must be a msgpack map, got {type(header).__name__}"
        )
    return header


def decode_arrays(
    header: Mapping[str, Any], frames: Sequence[Any], limits: Limits
) -> dict[str, np.ndarray]:
    """Arrays described by ``header["arrays"]``, as views of ``frames[1:]`` (no copy).

    Checks the message's total size and every descriptor before building any array.
    """
    views = [_buffer(f) for f in frames[1:]]
    total = sum(v.nbytes for v in views) + _buffer(frames[0]).nbytes
    if total > limits.max_message_bytes:
        raise WireError(
            ErrorCode.TOO_LARGE,
            f"message is {total} bytes; the receiver accepts at most {limits.max_message_bytes}",
        )
    descriptors = header.get("arrays", [])
    if not isinstance(descriptors, list):
        raise WireError(ErrorCode.MALFORMED, "header 'arrays' must be a list of descriptors")
    if len(descriptors) != len(views):
        raise WireError(
            ErrorCode.MALFORMED,
            f"header describes {len(descriptors)} arrays but {len(views)} frames follow it",
        )
    arrays: dict[str, np.ndarray] = {}
    for desc, buf in zip(descriptors, views, strict=True):
        name, dtype, shape, order = _check_descriptor(desc, limits)
        if name in arrays:
            raise WireError(ErrorCode.MALFORMED, f"array name {name!r} appears twice")
        expected = math.prod(shape) * dtype.itemsize
        if desc["nbytes"] != expected or buf.nbytes != expected:
            raise WireError(
                ErrorCode.MALFORMED,
                f"array {name!r}: {dtype.str}{tuple(shape)} needs {expected} bytes; header says "
                f"{desc['nbytes']}, frame has {buf.nbytes}",
            )
        arrays[name] = np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)
    return arrays


def _check_descriptor(desc: Any, limits: Limits) -> tuple[str, np.dtype, list[int], str]:
    if not isinstance(desc, dict):
        raise WireError(ErrorCode.MALFORMED, "each array descriptor must be a msgpack map")
    name, dtype, shape = desc.get("name"), desc.get("dtype"), desc.get("shape")
    order, nbytes = desc.get("order", "C"), desc.get("nbytes")
    if not isinstance(name, str):
        raise WireError(ErrorCode.MALFORMED, "array descriptor needs a string 'name'")
    if not isinstance(dtype, str) or dtype not in WIRE_DTYPES:
        raise WireError(
            ErrorCode.MALFORMED,
            f"array {name!r}: dtype {dtype!r} is not accepted; use one of {sorted(WIRE_DTYPES)}",
        )
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(type(d) is int and 0 <= d <= limits.max_message_bytes for d in shape)
    ):
        raise WireError(
            ErrorCode.MALFORMED,
            f"array {name!r}: shape must be a list of at most {MAX_NDIM} non-negative ints, "
            f"got {shape!r}",
        )
    if order not in ("C", "F"):
        raise WireError(ErrorCode.MALFORMED, f"array {name!r}: order must be 'C' or 'F'")
    if type(nbytes) is not int:
        raise WireError(ErrorCode.MALFORMED, f"array {name!r}: 'nbytes' must be an int")
    # Bounded per dimension above, so this product cannot run away before the size check.
    if math.prod(shape) * _DTYPES[dtype].itemsize > limits.max_message_bytes:
        raise WireError(ErrorCode.TOO_LARGE, f"array {name!r}: shape {shape} is beyond the limit")
    return name, _DTYPES[dtype], shape, order
