"""Where arena-eval caches what it derives from the installed packages (compiled MuJoCo
models, converted USD, Warp kernels): outside any checkout, so clean clones reuse it.

Each kind of entry (``mjb/`` models, ``usd/`` scenes) is bounded: after a new entry is written,
the least recently used ones are removed until the kind fits in ``$ARENA_EVAL_CACHE_MAX_GB``
(default 4 GB each). Entries are touched when used, so a scene a test suite or a sweep keeps
coming back to stays while one-off scenes (a variation's distractors, an odd object) age out.
A compiled humanoid scene is ~115 MB and a test suite composes ~150 distinct scenes: without
a bound the cache grew by ~10 GB per run of the suite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

DEFAULT_MAX_GB = 4.0


def cache_root() -> Path:
    """``$ARENA_EVAL_CACHE`` or ``~/.cache/arena-eval``: survives clean clones, never in git."""
    root = os.environ.get("ARENA_EVAL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "arena-eval"


def max_bytes() -> int:
    """The bound on each kind of entry, from ``$ARENA_EVAL_CACHE_MAX_GB`` (a float, in GB)."""
    raw = os.environ.get("ARENA_EVAL_CACHE_MAX_GB", "")
    try:
        gb = float(raw) if raw else DEFAULT_MAX_GB
    except ValueError:
        raise ValueError(f"ARENA_EVAL_CACHE_MAX_GB={raw!r} is not a number of GB") from None
    return max(0, int(gb * 1e9))


def touch(path: Path) -> None:
    """Mark an entry as just used (its mtime orders eviction)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def prune(folder: Path, keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Remove the least recently used entries of ``folder`` until it holds at most ``limit``
    bytes (default :func:`max_bytes`); ``keep`` (the entry just written) always stays.
    Entries being written (names starting with ``.`` or ending in ``.partial``) are left alone.
    Returns what was removed; errors (a concurrent prune, a read-only folder) are ignored."""
    limit = max_bytes() if limit is None else limit
    entries = []
    try:
        for path in folder.iterdir():
            if path.name.startswith(".") or path.name.endswith(".partial"):
                continue
            try:
                entries.append((path.stat().st_mtime, _size(path), path))
            except OSError:
                continue
    except OSError:
        return []
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed
