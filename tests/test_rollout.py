"""The loop's contract: exact episode budgets, per-env resets, seeds independent of num_envs."""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.envs.base import EpisodeSource, episode_seed
from arena_eval.policies.base import make_policy
from arena_eval.policies.builtin import ZeroAction
from arena_eval.rollout import rollout


def run(make_cfg, *overrides: str, kind: str = "episodes", n: int = 6):
    job = validate(make_cfg(*overrides))
    env = SimApp.get(job).make_env(job)
    try:
        policy = make_policy(job.policy, env.spec)
        budget = n if kind == "episodes" else None
        return rollout(env, policy, kind, n, EpisodeSource(job.seed, budget)), env.spec
    finally:
        env.close()


@pytest.mark.parametrize(("num_envs", "n"), [(1, 3), (4, 7), (8, 5), (3, 9)])
def test_episode_budget_is_exact(make_cfg, num_envs: int, n: int) -> None:
    out, _ = run(make_cfg, "policy=scripted", f"num_envs={num_envs}", n=n)
    assert len(out.records) == n
    assert sorted(r.episode_index for r in out.records) == list(range(n))


def test_retired_envs_are_not_stepped(make_cfg) -> None:
    """With 8 envs and 3 episodes, 5 envs never start: they cost no simulation."""
    out, spec = run(make_cfg, "policy=zero_action", "num_envs=8", n=3)
    assert out.env_steps == 3 * spec.max_episode_steps


def test_episode_set_does_not_depend_on_num_envs(make_cfg) -> None:
    outcomes = []
    for num_envs in (1, 3, 6):
        out, _ = run(make_cfg, "policy=scripted", f"num_envs={num_envs}", n=6)
        outcomes.append(sorted((r.episode_index, r.seed, r.success, r.length) for r in out.records))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert [s for _, s, _, _ in outcomes[0]] == [episode_seed(0, k) for k in range(6)]


def test_initial_states_differ_across_episodes(make_cfg) -> None:
    job = validate(make_cfg("num_envs=4"))
    env = SimApp.get(job).make_env(job)
    try:
        obs = env.reset(EpisodeSource(0, None))
        poses = obs["object_pos"][:, :2]
        assert len({tuple(np.round(p, 6)) for p in poses}) == 4
    finally:
        env.close()


def test_steps_mode_counts_vectorized_steps(make_cfg) -> None:
    out, _ = run(make_cfg, "policy=scripted", "num_envs=2", kind="steps", n=200)
    assert out.steps == 200
    assert out.env_steps == 400
    # lift episodes finish in ~80 steps: each of the 2 envs completes at least 2.
    assert len(out.records) >= 4
    assert all(r.length <= 300 for r in out.records)


def test_policy_is_reset_for_finished_envs(make_cfg) -> None:
    resets: list[list[int] | None] = []

    class Recording(ZeroAction):
        def reset(self, env_ids=None):
            resets.append(None if env_ids is None else sorted(int(i) for i in env_ids))

    job = validate(make_cfg("num_envs=2", "env.task.episode_length_s=0.2"))  # 10-step episodes
    env = SimApp.get(job).make_env(job)
    try:
        rollout(env, Recording({}, env.spec), "episodes", 4, EpisodeSource(0, 4))
    finally:
        env.close()
    assert resets[0] is None  # the whole batch at the start
    assert [0, 1] in resets[1:]  # both envs time out together and are reset together


def test_policy_length_overrides_run_length(make_cfg, tmp_path) -> None:
    from arena_eval.job import run_job

    class Short(ZeroAction):
        def length(self):
            return ("steps", 7)

    cfg = make_cfg("policy=zero_action")
    cfg.policy.name = f"{__name__}.ShortPolicy"
    globals()["ShortPolicy"] = Short
    result = run_job(cfg, tmp_path, show=False)
    assert result.results["job"]["length"] == {"kind": "steps", "n": 7}
    assert result.results["timing"]["steps"] == 7
    assert result.metrics["num_episodes"] == 0
    assert "no episode finished within 7 steps" in result.results["notes"][0]


def test_compiled_model_cache_gives_the_same_episodes(tmp_path, make_cfg, monkeypatch) -> None:
    """A model loaded from the compiled-model cache (MJB) runs the same episodes as one
    compiled from the spec."""
    import csv

    from arena_eval.app import SimApp
    from arena_eval.job import run_job

    monkeypatch.setenv("ARENA_EVAL_CACHE", str(tmp_path / "cache"))
    cfg = ("env=open_microwave", "policy=scripted", "num_envs=3", "length.n=6")
    rows = []
    for attempt in ("compiled", "loaded"):
        SimApp.shutdown()  # a fresh app: no model in memory, only the cache on disk
        result = run_job(make_cfg(*cfg), tmp_path / attempt)
        stats = result.results["app"]
        assert (stats["models_compiled"], stats["models_loaded"]) == (
            (1, 0) if attempt == "compiled" else (0, 1)
        )
        with open(tmp_path / attempt / "episodes.csv") as fh:
            rows.append(
                [{k: r[k] for k in ("seed", "success", "length")} for r in csv.DictReader(fh)]
            )
    SimApp.shutdown()
    assert rows[0] == rows[1]
    assert len(list((tmp_path / "cache" / "mjb").glob("*.mjb"))) == 1


def test_index_runs_become_slices() -> None:
    import numpy as np

    from arena_eval.envs.mujoco.embodiments.base import as_index

    assert as_index(np.array([3, 4, 5])) == slice(3, 6)
    assert isinstance(as_index(np.array([0, 2, 3])), np.ndarray)
    qpos = np.arange(20.0).reshape(2, 10)
    assert np.array_equal(qpos[:, as_index(np.array([3, 4, 5]))], qpos[:, [3, 4, 5]])


def test_step_results_own_their_active_flags(make_cfg) -> None:
    """A step where nothing ends hands out its own copy of the flags and counts every live env;
    once envs retire, later results count only the live ones."""
    job = validate(make_cfg("policy=zero_action", "num_envs=3"))
    env = SimApp.get(job).make_env(job)
    try:
        policy = make_policy(job.policy, env.spec)
        obs = env.reset(EpisodeSource(job.seed, 4))
        first = env.step(policy.get_action(obs))
        assert first.stepped == 3 and first.active.all()
        assert not np.shares_memory(first.active, env.book.active)
        stepped, obs = [first.stepped], first.obs
        while True:
            result = env.step(policy.get_action(obs))
            stepped.append(result.stepped)
            obs = result.obs
            assert result.stepped == env.book.num_active or result.episodes
            if not result.active.any():
                break
        assert first.active.all()  # later steps did not touch an earlier result
        # 4 episodes on 3 envs: all three run the first round, one env the second.
        assert sum(stepped) == 4 * env.spec.max_episode_steps
    finally:
        env.close()
