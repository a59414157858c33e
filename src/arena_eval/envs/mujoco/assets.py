"""Where robot model files come from: installed asset packages, read as files, never imported.

robosuite's package ``__init__`` starts its whole environment stack (and fails on MuJoCo 4),
so we locate the package directory with ``importlib.util.find_spec`` and read its MJCF files.
Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import mujoco

_INSTALL_HINT = (
    "install the asset packages with `make setup`, or by hand: "
    "pip install --no-deps robosuite==1.5.2 robosuite-models==1.0.0"
)


class MissingAssets(RuntimeError):
    """A robot model's files are not installed; the message says how to install them."""


@cache
def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingAssets(f"the asset package {package!r} is not installed: {_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def robosuite_asset(relative: str) -> Path:
    """Path of a file under robosuite's ``models/assets`` folder."""
    path = package_dir("robosuite") / "models" / "assets" / relative
    if not path.exists():
        raise MissingAssets(f"robosuite asset {relative!r} not found at {path}: {_INSTALL_HINT}")
    return path


def load_spec(path: Path) -> mujoco.MjSpec:
    """An MJCF file as an ``MjSpec`` whose mesh and texture files are absolute paths.

    Specs attached into a scene keep their files' relative paths, which only resolve against
    the original file's folder; absolute paths let the composed scene be written out as one
    MJCF (``MjSpec.to_xml``) and converted (the Isaac Lab backend's USD), unchanged for MuJoCo.
    """
    spec = mujoco.MjSpec.from_file(str(path))
    spec.compiler.degree = False
    folder = Path(path).parent
    for assets, subdir in ((spec.meshes, spec.meshdir), (spec.textures, spec.texturedir)):
        for asset in assets:
            if asset.file and not Path(asset.file).is_absolute():
                asset.file = str((folder / subdir / asset.file).resolve())
    return spec
