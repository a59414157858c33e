"""The on-disk caches stay bounded: least recently used entries out first, the new one kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena_eval.cache import max_bytes, prune, touch


def _entry(folder: Path, name: str, size: int, mtime: float, directory: bool = False) -> Path:
    path = folder / name
    if directory:
        path.mkdir()
        (path / "scene.usda").write_bytes(b"x" * size)
    else:
        path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=12),
    limit=st.integers(0, 300),
    data=st.data(),
)
def test_prune_removes_the_oldest_until_the_folder_fits(tmp_path_factory, sizes, limit, data):
    folder = tmp_path_factory.mktemp("cache")
    entries = [
        _entry(folder, f"{i:02d}", size, 1_000_000 + i, directory=i % 2 == 0)
        for i, size in enumerate(sizes)
    ]
    keep = data.draw(st.sampled_from(entries))
    removed = prune(folder, keep=keep, limit=limit)
    left = sorted(p for p in folder.iterdir())
    assert keep in left and keep not in removed
    assert set(removed) | set(left) == set(entries)
    total = sum(sizes[entries.index(p)] for p in left)
    # It fits, or everything but the kept entry is gone.
    assert total <= limit or left == [keep]
    # Only the oldest went: every removed entry is older than every other entry left.
    if removed:
        newest_removed = max(entries.index(p) for p in removed)
        assert all(entries.index(p) > newest_removed for p in left if p != keep)
        # And no more than needed: without the newest removed one it would not have fit.
        assert total + sizes[newest_removed] > limit


def test_prune_leaves_entries_being_written_and_touch_renews(tmp_path: Path) -> None:
    old = _entry(tmp_path, "old.mjb", 10, 1_000_000)
    used = _entry(tmp_path, "used.mjb", 10, 999_000)
    partial = _entry(tmp_path, "x.partial", 100, 1)
    hidden = _entry(tmp_path, ".abc-tmp", 100, 1, directory=True)
    touch(used)  # an old entry just loaded is now the newest
    assert prune(tmp_path, limit=15) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [used.name, partial.name, hidden.name]
    )


def test_the_bound_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("ARENA_EVAL_CACHE_MAX_GB", raising=False)
    assert max_bytes() == 4_000_000_000
    monkeypatch.setenv("ARENA_EVAL_CACHE_MAX_GB", "0.5")
    assert max_bytes() == 500_000_000
    monkeypatch.setenv("ARENA_EVAL_CACHE_MAX_GB", "lots")
    with pytest.raises(ValueError, match="ARENA_EVAL_CACHE_MAX_GB='lots' is not a number"):
        max_bytes()


def test_compiled_models_stay_within_the_bound(tmp_path: Path, monkeypatch) -> None:
    """Real compiled models through the MuJoCo backend's cache: with room for about two models,
    saving a third leaves the two most recently used on disk, and the model loaded again just
    before the third was saved survives."""
    import mujoco

    from arena_eval.envs.mujoco import model_cache

    monkeypatch.setenv("ARENA_EVAL_CACHE", str(tmp_path))
    models = [
        mujoco.MjModel.from_xml_string(
            f"<mujoco><worldbody><body><freejoint/><geom size='{s}'/></body></worldbody></mujoco>"
        )
        for s in (0.1, 0.2, 0.3)
    ]
    model_cache.save(("a",), models[0])
    size = model_cache.model_path(("a",)).stat().st_size
    monkeypatch.setenv("ARENA_EVAL_CACHE_MAX_GB", str(2.5 * size / 1e9))
    model_cache.save(("b",), models[1])
    os.utime(model_cache.model_path(("a",)), (1, 1))
    os.utime(model_cache.model_path(("b",)), (2, 2))
    assert model_cache.load(("a",)) is not None  # used again: now the newest
    model_cache.save(("c",), models[2])
    assert model_cache.load(("b",)) is None
    loaded = model_cache.load(("c",))
    assert loaded is not None and loaded.geom_size[0, 0] == 0.3
    assert model_cache.load(("a",)) is not None
    assert sum(p.stat().st_size for p in (tmp_path / "mjb").iterdir()) <= 2.5 * size
