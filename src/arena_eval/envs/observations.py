"""Observations read straight out of simulation arrays, gathered in one pass per step.

Most observations are plain reads: some columns of each simulation's row of a live array
(``qpos``, ``qvel``, a body's row of ``xpos``, a constant table). A state declares them as
:class:`Read`s and writes only what it computes (``derive``); the reads then serve two paths:

- :meth:`Read.write`, one array assignment per observation: the general path, used where the
  state arrays are mirrors (Isaac Lab) or where a state is asked to ``observe`` on its own;
- :class:`Gather`, which compiles every read of every group into one ``np.take`` per
  underlying buffer (``qpos`` and ``qvel`` are both views of a ``mujoco.batch`` state row, so
  they are one buffer) straight into a fresh float32 block, whose slices are the step's
  observation arrays. On MuJoCo this replaces ~20 array operations per step (a write per key
  into persistent arrays, then a copy per key to hand them out) with three, and each operation
  right after the physics costs several microseconds while the caches refill
  (docs/performance.md, "Where the 16-env gap goes").

Both paths give the same values: the tests compare them on every task and embodiment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from arena_eval.envs.base import ArraySpec


class Read:
    """Observation ``key`` of each simulation: ``source[row][index]``, flattened.

    ``source`` is an (m, ...) array that the simulation updates in place (a live view, never a
    copy taken once); ``index`` selects within one row, as ``source[:, index]`` would (an int,
    a slice or an index array on the first axis after the rows). ``constant``: the values
    never change once the state is built (a table of object sizes): :class:`Gather` reads them
    once instead of on every step."""

    __slots__ = ("_rows", "cols", "constant", "key", "source")

    def __init__(
        self, key: str, source: np.ndarray, index=slice(None), constant: bool = False
    ) -> None:
        self.key = key
        self.source = source
        self.constant = constant
        inner = np.arange(int(np.prod(source.shape[1:], dtype=np.int64))).reshape(source.shape[1:])
        self.cols = np.atleast_1d(inner[index]).ravel().astype(np.intp)
        rows = source.reshape(source.shape[0], -1)
        # A reshape that had to copy would freeze the values at construction: read per call then.
        self._rows = rows if np.shares_memory(rows, source) or not source.size else None

    def values(self) -> np.ndarray:
        """(m, len(cols)) copy of the current values."""
        rows = self._rows if self._rows is not None else self.source.reshape(len(self.source), -1)
        return rows[:, self.cols]

    def write(self, out: dict[str, np.ndarray], rows) -> None:
        target = out[self.key]
        target[rows] = self.values().reshape(-1, *target.shape[1:])


def observe(reads: Iterable[Read], out: dict[str, np.ndarray], rows) -> None:
    """Write every read into ``out[key][rows]``: the general path."""
    for r in reads:
        r.write(out, rows)


def cached_reads(state) -> list[Read]:
    """``state.reads()``, built once (reads hold live views, so they stay current)."""
    reads = state.__dict__.get("_reads")
    if reads is None:
        reads = state._reads = state.reads()
    return reads


def _locate(source: np.ndarray) -> tuple[np.ndarray, int, int, tuple[int, ...]] | None:
    """The outermost C-contiguous array of ``source``'s dtype that holds it, flattened, with
    ``source``'s first element's offset, its row stride and inner strides, in elements."""
    chain, a = [], source
    while isinstance(a, np.ndarray):
        chain.append(a)
        a = a.base
    size = source.dtype.itemsize
    for base in reversed(chain):
        if base.dtype != source.dtype or not base.flags.c_contiguous:
            continue
        start = source.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        strides = source.strides
        if start % size or any(s % size for s in strides):
            continue
        return (
            base.reshape(-1),
            start // size,
            strides[0] // size,
            tuple(s // size for s in strides[1:]),
        )
    return None


def _offsets(read: Read, start: int, inner: tuple[int, ...]) -> np.ndarray:
    """Element offsets of ``read.cols`` within a row of its buffer."""
    if not inner:
        return np.full(len(read.cols), start, dtype=np.intp)
    coords = np.unravel_index(read.cols, read.source.shape[1:])
    return start + sum(c * s for c, s in zip(coords, inner, strict=True)).astype(np.intp)


class Gather:
    """Every group's reads, compiled into one ``np.take`` per buffer and dtype.

    ``groups`` pairs each group's env index (a slice ``0:n`` when it is every env in order, else
    its global env ids) with its reads; every group reads the same keys. Keys of ``spec`` that
    no read covers and that are not ``skip``ped are the states' to ``derive``: :meth:`__call__`
    hands them out uninitialised, to be written whole."""

    def __init__(
        self,
        spec: dict[str, ArraySpec],
        num_envs: int,
        groups: Sequence[tuple[slice | np.ndarray, Sequence[Read]]],
        skip: Iterable[str] = (),
    ) -> None:
        n = num_envs
        keys = [r.key for r in groups[0][1]] if groups else []
        for _, reads in groups:
            if sorted(r.key for r in reads) != sorted(keys):
                raise ValueError(f"groups read different observations: {keys} and {reads}")
        skip = set(skip)
        self.derived = [k for k in spec if k not in keys and k not in skip]
        self.specs = {k: spec[k] for k in spec if k not in skip}
        # Reads of each group by (dtype of the observation, buffer); a key's block in the
        # output lies with the other keys of its buffer, so a single group in env order gathers
        # each buffer into one contiguous run.
        plans: dict[tuple, dict] = {}  # in the order buffers are first read
        fallback: list[tuple[slice | np.ndarray, Read]] = []
        for index, reads in groups:
            for r in reads:
                dtype = np.dtype(spec[r.key].dtype)
                found = _locate(r.source)
                if found is None:
                    fallback.append((index, r))
                    continue
                flat, start, row, inner = found
                buf = (flat.__array_interface__["data"][0], flat.size, flat.dtype.str, r.constant)
                plan = plans.setdefault((dtype, buf), {"flat": flat, "parts": []})
                plan["parts"].append((index, r, start, row, inner))
        self.fallback = fallback
        # The output blocks, per dtype: each key (n, *shape) row-major, beside the other keys
        # of its buffer.
        sizes: dict[np.dtype, int] = {}
        self.blocks: dict[str, tuple[np.dtype, int, tuple[int, ...]]] = {}
        placed = [(dtype, p[1].key) for (dtype, _), plan in plans.items() for p in plan["parts"]]
        placed += [(np.dtype(spec[r.key].dtype), r.key) for _, r in fallback]
        # The derived keys get blocks too, after the reads: every key is then a slice of its
        # dtype's fresh block, handed out in one pass.
        placed += [(np.dtype(spec[k].dtype), k) for k in self.derived]
        for dtype, key in placed:
            if key in self.blocks:
                continue
            shape = (n, *spec[key].shape)
            off = sizes.get(dtype, 0)
            self.blocks[key] = (dtype, off, shape)
            sizes[dtype] = off + int(np.prod(shape))
        self.sizes = sizes
        # Per key, in the spec's order: its block's dtype, slice and shape.
        self.layout = []
        for key in self.specs:
            dtype, off, shape = self.blocks[key]
            self.layout.append((key, dtype, slice(off, off + int(np.prod(shape))), shape))
        # Each buffer's take: source element indices and the output positions they fill.
        # Each buffer's take lands in a persistent scratch block of the sources' own dtype (a
        # take that casts on the way buffers its output and reads the uninitialised block);
        # one cast per step then makes the fresh block handed out.
        self.scratch = {
            dtype: np.zeros(
                size, np.result_type(*(p["flat"] for (d, _), p in plans.items() if d == dtype))
            )
            for dtype, size in sizes.items()
            if any(d == dtype for d, _ in plans)
        }
        self.takes: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        for (dtype, _), plan in plans.items():
            src, dst = [], []
            for index, r, start, row, inner in plan["parts"]:
                env_ids = np.arange(n)[index]
                local = np.arange(len(env_ids))
                width = len(r.cols)
                src.append((local[:, None] * row + _offsets(r, start, inner)[None, :]).ravel())
                _, off, _ = self.blocks[r.key]
                dst.append((off + env_ids[:, None] * width + np.arange(width)[None, :]).ravel())
            src_idx, dst_idx = np.concatenate(src), np.concatenate(dst)
            scratch, lo = self.scratch[dtype], int(dst_idx[0])
            if plan["parts"][0][1].constant:  # read now, kept in the scratch for every step
                scratch[dst_idx] = plan["flat"][src_idx]
            elif np.array_equal(dst_idx, np.arange(lo, lo + dst_idx.size)):
                # One contiguous run (a single group in env order): take straight into it.
                self.takes.append((plan["flat"], src_idx, scratch[lo : lo + dst_idx.size], None))
            else:
                self.takes.append((plan["flat"], src_idx, scratch, dst_idx))
        # Blocks of a dtype that no take fills (only fallback reads or derived keys): fresh
        # empty arrays per call.
        self.unscratched = [(d, size) for d, size in sizes.items() if d not in self.scratch]

    def __call__(self) -> dict[str, np.ndarray]:
        """Fresh observation arrays of every env, in the spec's order: the reads filled, the
        derived ones to be written whole."""
        for flat, src, out, dst in self.takes:
            if dst is None:
                flat.take(src, out=out, mode="clip")  # indices are in range by construction
            else:
                out[dst] = flat[src]
        bufs = {dtype: scratch.astype(dtype) for dtype, scratch in self.scratch.items()}
        for dtype, size in self.unscratched:
            bufs[dtype] = np.empty(size, dtype=dtype)
        obs = {key: bufs[dtype][sl].reshape(shape) for key, dtype, sl, shape in self.layout}
        for index, r in self.fallback:
            r.write(obs, index)
        return obs
