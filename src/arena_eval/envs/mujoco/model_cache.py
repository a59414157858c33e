"""Compiled scenes on disk: the first compile of a process spends seconds on the robots' meshes
(GR1's fingers, the Panda's links); loading the saved binary model (MJB) takes a fraction.

A model is keyed by everything that decides it: the job's scene (env, task settings, embodiment
and its settings, object, physics rate), MuJoCo's version, the asset packages' versions and
the source of this backend (any change to how scenes are composed makes a new key). Files are
written under a temporary name and renamed, so concurrent jobs never read half a model.
``ARENA_EVAL_MODEL_CACHE=0`` turns the cache off; the folder is bounded in size, least recently
used models first out (:mod:`arena_eval.cache`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

import mujoco

from arena_eval.cache import cache_root, prune, touch

ASSET_PACKAGES = ("robosuite", "robosuite-models")


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The MuJoCo backend's source and the versions its models come from."""
    h = hashlib.sha256(mujoco.__version__.encode())
    for name in ASSET_PACKAGES:
        try:
            h.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name}=none".encode())
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def enabled() -> bool:
    return os.environ.get("ARENA_EVAL_MODEL_CACHE", "1") != "0"


def model_path(key: tuple) -> Path:
    digest = hashlib.sha256(f"{_code_digest()}|{key!r}".encode()).hexdigest()[:32]
    return cache_root() / "mjb" / f"{digest}.mjb"


def load(key: tuple) -> mujoco.MjModel | None:
    path = model_path(key)
    if not path.is_file():
        return None
    try:
        model = mujoco.MjModel.from_binary_path(str(path))
    except Exception:  # a file from an interrupted write or a foreign build: compile anew
        path.unlink(missing_ok=True)
        return None
    touch(path)
    return model


def save(key: tuple, model: mujoco.MjModel) -> None:
    path = model_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        os.close(fd)
        mujoco.mj_saveModel(model, tmp, None)
        os.replace(tmp, path)
        prune(path.parent, keep=path)
    except OSError:  # a read-only or full cache folder costs speed, never the job
        Path(locals().get("tmp", path.with_suffix(".none"))).unlink(missing_ok=True)
