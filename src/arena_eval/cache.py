"""Where arena-eval caches what it derives from the installed packages (compiled MuJoCo
models, converted USD, Warp kernels): outside any checkout, so clean clones reuse it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$ARENA_EVAL_CACHE`` or ``~/.cache/arena-eval``: survives clean clones, never in git."""
    root = os.environ.get("ARENA_EVAL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "arena-eval"
