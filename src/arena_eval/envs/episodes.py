"""Per-env episode bookkeeping shared by every batched backend.

Which env runs which episode (index and seed from an :class:`EpisodeSource`), how many steps it
has taken, when it ends (success, failure or the time limit) and the record it leaves: the same
arithmetic on MuJoCo and Isaac Lab, so both count episodes exactly and alike.
"""

from __future__ import annotations

import numpy as np

from arena_eval.envs.base import EpisodeRecord, EpisodeSource, StepResult

_NONE = np.zeros(0, dtype=np.int64)  # no env ended this step
_NONE.flags.writeable = False


class EpisodeBook:
    def __init__(
        self, num_envs: int, max_episode_steps: int, rank: int = 0, variations=None
    ) -> None:
        self.max_episode_steps = max_episode_steps
        # The job's variations (variations.py): each started episode draws its values from its
        # own seed; ``values[env]`` holds the running episode's, for the backend and the record.
        self.variations = variations if variations else None
        self.values: list[dict] = [{} for _ in range(num_envs)]
        self.rank = rank
        self.active = np.zeros(num_envs, dtype=bool)
        self.num_active = 0  # np.count_nonzero(active), kept by begin() and start()
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self._counting = np.zeros(num_envs, dtype=np.int64)  # ``active`` as 0/1, for steps
        # A read-only copy of ``active``, made where it changes (begin, start): each step's
        # result hands it out as its own flags, with no copy per step.
        self._active_changed()
        self.episode_index = np.full(num_envs, -1, dtype=np.int64)
        self.episode_seed = np.zeros(num_envs, dtype=np.int64)
        self.source: EpisodeSource | None = None
        self._zero_reward = np.zeros(num_envs, dtype=np.float32)
        self._zero_reward.flags.writeable = False
        # An upper bound on the steps of any running episode: while it is below the limit and
        # no term fired, nothing ends and advance() builds no masks (the common step).
        self._oldest = 0
        self._unchanged: np.ndarray | None = None  # advance()'s was_active, when nothing ended
        # The flags of a step where nothing ended: one read-only array, handed out as success,
        # failure, terminated and truncated alike (a caller that writes to them gets an error).
        self._none_ended = np.zeros(num_envs, dtype=bool)
        self._none_ended.flags.writeable = False

    def begin(self, source: EpisodeSource) -> None:
        self.source = source
        self.active[:] = False
        self._active_changed()
        self._oldest = int(self.steps.max(initial=0))

    def start(self, env_ids: np.ndarray) -> np.ndarray:
        """Give each env its next episode, or retire it once the budget is spent; return the
        envs that started one."""
        started = []
        for env_id in env_ids:
            nxt = self.source.next() if self.source is not None else None
            if nxt is None:
                self.active[env_id] = False
                continue
            self.episode_index[env_id], self.episode_seed[env_id] = nxt
            if self.variations is not None:
                self.values[env_id] = self.variations.sample(int(self.episode_seed[env_id]))
            self.active[env_id] = True
            self.steps[env_id] = 0
            started.append(env_id)
        self._active_changed()
        return np.array(started, dtype=np.int64)

    def _active_changed(self) -> None:
        """Bring what is kept of ``active`` up to date: its count, its 0/1 copy, its snapshot."""
        self.num_active = int(np.count_nonzero(self.active))
        self._counting[:] = self.active
        self._snapshot = self.active.copy()
        self._snapshot.flags.writeable = False

    def rngs(self, env_ids: np.ndarray) -> list[np.random.Generator]:
        """One generator per env from its episode's seed: the reset distribution's draw."""
        return [np.random.default_rng(int(s)) for s in self.episode_seed[env_ids]]

    def advance(
        self, success: np.ndarray, failure: np.ndarray, time_out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Count one step of the active envs; return (was_active, success, failure,
        terminated, truncated, done ids). Success wins over failure within a step; an env
        times out at the step limit, or where ``time_out`` says its simulator's clock did."""
        was_active = self._snapshot
        # +1 where active, without a masked write; ``active`` changes only in begin() and
        # start(), which keep its 0/1 copy, so the sum has operands of one dtype (the fast path).
        np.add(self.steps, self._counting, out=self.steps)
        self._oldest += 1
        if (
            time_out is None
            and self._oldest < self.max_episode_steps
            and not np.count_nonzero(success)
            and not np.count_nonzero(failure)
        ):
            # Nothing ends: ``active`` stays as it is, so result() hands out this same copy.
            self._unchanged = was_active
            no = self._none_ended
            return was_active, no, no, no, no, _NONE
        self._unchanged = None
        success = success & was_active
        failure = failure & was_active & ~success
        terminated = success | failure
        limit = self.steps >= self.max_episode_steps
        if time_out is not None:
            limit |= time_out
        truncated = limit & was_active & ~terminated
        ended = terminated | truncated
        done = np.flatnonzero(ended) if np.count_nonzero(ended) else _NONE
        self._oldest = int(self.steps.max(where=was_active & ~ended, initial=0))
        return was_active, success, failure, terminated, truncated, done

    def record(
        self,
        env_id: int,
        success: bool,
        failure: bool,
        obj: str,
        object_moved: bool,
        door_moved: bool | None,
        subtasks: dict[str, bool],
    ) -> EpisodeRecord:
        return EpisodeRecord(
            episode_index=int(self.episode_index[env_id]),
            env_id=env_id,
            seed=int(self.episode_seed[env_id]),
            object=obj,
            success=success,
            length=int(self.steps[env_id]),
            outcome="success" if success else "failure" if failure else "timeout",
            object_moved=object_moved,
            door_moved=door_moved,
            subtasks=subtasks,
            rank=self.rank,
            variations=self.values[env_id],
        )

    def group_record(self, groups, env_id: int, success: bool, failure: bool) -> EpisodeRecord:
        """The record of ``env_id``'s episode, from the group (one object's envs, with
        ``env_ids``, ``obj`` and a task state) that holds it."""
        for group in groups:
            rows = np.flatnonzero(group.env_ids == env_id)
            if rows.size:
                row, task = int(rows[0]), group.task
                return self.record(
                    env_id,
                    success,
                    failure,
                    group.obj.name,
                    bool(task.moved[row]),
                    task.door_moved(row),
                    {k: bool(v[row]) for k, v in task.subtasks.items()},
                )
        raise KeyError(env_id)

    def result(
        self,
        obs: dict[str, np.ndarray],
        success: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        episodes: list[EpisodeRecord],
        reset_ids: np.ndarray,
        was_active: np.ndarray,
    ) -> StepResult:
        """The step's result; the reward is 1 where an episode succeeded in this step."""
        if was_active is self._unchanged:  # advance() ended nothing: no env came or went
            active, stepped = was_active, self.num_active
        else:
            active, stepped = self._snapshot, int(np.count_nonzero(was_active))
        reward = success.astype(np.float32) if episodes else self._zero_reward
        # Positional, in the field order (half the cost of keywords, on every step).
        return StepResult(obs, reward, terminated, truncated, episodes, reset_ids, active, stepped)
