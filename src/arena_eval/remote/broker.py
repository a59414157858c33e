"""ActionChunkBroker: per-env buffers of action chunks that hand out one action per env per step."""

from __future__ import annotations

import numpy as np


class ActionChunkBroker:
    """Holds the unplayed part of each env's latest action chunk.

    Each step: ask :meth:`needs_chunk` which envs ran dry, get chunks for all of them in ONE
    batched request, :meth:`fill` them, then :meth:`pop` one action for every env.
    """

    def __init__(self, num_envs: int, action_dim: int, dtype: np.dtype | type = np.float32) -> None:
        if num_envs < 1 or action_dim < 1:
            raise ValueError(f"num_envs ({num_envs}) and action_dim ({action_dim}) must be >= 1")
        self.num_envs = num_envs
        self.action_dim = action_dim
        self._chunks = np.zeros((num_envs, 1, action_dim), dtype=dtype)
        self._length = np.zeros(num_envs, dtype=np.int64)  # actions in each env's chunk
        self._next = np.zeros(num_envs, dtype=np.int64)  # index of each env's next action
        self._all = np.arange(num_envs)

    def needs_chunk(self) -> np.ndarray:
        """Ids of the envs with no action left (all of them at the start and after reset)."""
        return np.flatnonzero(self._next >= self._length)

    def remaining(self) -> np.ndarray:
        """Actions left in each env's buffer."""
        return self._length - self._next

    def fill(self, env_ids: np.ndarray, chunks: np.ndarray) -> None:
        """Replace the buffers of ``env_ids`` with ``chunks`` ``[len(env_ids), chunk, dim]``."""
        env_ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        chunks = np.asarray(chunks)
        if (
            chunks.ndim != 3
            or chunks.shape[0] != env_ids.size
            or chunks.shape[2] != self.action_dim
        ):
            raise ValueError(
                f"chunks of shape {chunks.shape} do not fit {env_ids.size} envs with action_dim "
                f"{self.action_dim}; expected ({env_ids.size}, chunk_length, {self.action_dim})"
            )
        if chunks.shape[1] < 1:
            raise ValueError("an action chunk needs at least one action")
        if env_ids.size and (env_ids.min() < 0 or env_ids.max() >= self.num_envs):
            raise ValueError(f"env_ids {env_ids.tolist()} out of range for {self.num_envs} envs")
        if chunks.shape[1] > self._chunks.shape[1]:
            grown = np.zeros((self.num_envs, chunks.shape[1], self.action_dim), self._chunks.dtype)
            grown[:, : self._chunks.shape[1]] = self._chunks
            self._chunks = grown
        self._chunks[env_ids, : chunks.shape[1]] = chunks
        self._length[env_ids] = chunks.shape[1]
        self._next[env_ids] = 0

    def pop(self) -> np.ndarray:
        """The next action of every env, ``[num_envs, action_dim]``; advances every buffer."""
        empty = self.needs_chunk()
        if empty.size:
            raise RuntimeError(
                f"envs {empty.tolist()} have no action left; fill() them before pop() "
                "(ask needs_chunk() which envs need a chunk)"
            )
        actions = self._chunks[self._all, self._next]
        self._next += 1
        return actions

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Drop the buffered actions of ``env_ids`` (all envs when None): they need a new chunk."""
        if env_ids is None:
            self._next[:] = self._length
        else:
            ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
            self._next[ids] = self._length[ids]
