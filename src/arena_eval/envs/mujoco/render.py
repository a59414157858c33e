"""Offscreen camera rendering on the CPU: GL backend choice, camera layout, one renderer per model.

Nothing here runs unless a job enables cameras. ``import mujoco`` reads ``MUJOCO_GL`` once, when
it is first imported, and on a headless machine with the variable unset it ends up with no usable
GL context class. So the backend is chosen here, lazily, in the process that renders: EGL first,
then OSMesa (both are software Mesa on a CPU-only machine), and the chosen ``GLContext`` class is
installed where ``mujoco.Renderer`` looks it up. A ``MUJOCO_GL`` set by the user is tried first.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

import numpy as np

# Cameras every scene has (scene.py adds them), by the name a job uses -> MJCF camera name.
SCENE_CAMERAS = {"front": "front"}
GL_BACKENDS = ("egl", "osmesa")
INSTALL_HINT = (
    "offscreen rendering needs Mesa's EGL or OSMesa library: on Debian/Ubuntu run "
    "`apt-get install -y libegl1 libosmesa6` as root (`make setup` does it when run as root)"
)

_chosen: str | None = None


class RenderUnavailable(RuntimeError):
    """No offscreen OpenGL backend works in this process."""


def _forget_opengl(platform_was: str | None) -> None:
    """Undo a failed backend import so the next one can pick its own PyOpenGL platform."""
    if platform_was is None:
        os.environ.pop("PYOPENGL_PLATFORM", None)
    for name in [m for m in sys.modules if m == "OpenGL" or m.startswith("OpenGL.")]:
        del sys.modules[name]


def gl_backend() -> str:
    """Choose and install the offscreen GL backend for ``mujoco.Renderer``; once per process."""
    global _chosen
    if _chosen is not None:
        return _chosen
    import logging

    from mujoco.rendering.classic import gl_context

    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # its INFO lines are noise here
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested and requested not in GL_BACKENDS:
        _chosen = requested  # glfw, glx ...: the user's explicit choice, already made by mujoco
        return _chosen
    order = [requested] if requested else []
    order += [b for b in GL_BACKENDS if b not in order]
    errors = []
    for name in order:
        platform_was = os.environ.get("PYOPENGL_PLATFORM")
        try:
            cls = importlib.import_module(f"mujoco.{name}").GLContext
            probe = cls(8, 8)  # a library that loads can still fail to make a context
            probe.make_current()
            probe.free()
        except Exception as err:  # ImportError, OSError, GL errors: try the next backend
            errors.append(f"{name}: {type(err).__name__}: {err}")
            _forget_opengl(platform_was)
            continue
        gl_context.GLContext = cls
        os.environ["MUJOCO_GL"] = name  # child processes make the same choice at import
        _chosen = name
        return name
    raise RenderUnavailable(f"{INSTALL_HINT}. Tried: " + "; ".join(errors))


def camera_layout(names: tuple[str, ...] | None, embodiment_cameras: dict[str, str]) -> dict:
    """Observation key -> MJCF camera name, for the job's camera names.

    ``names`` None means the default: the scene's front view, plus the embodiment's wrist and
    head cameras when it has them. A name is a scene camera (``front``) or one of the embodiment's
    (``wrist``); the observation is ``image_<name>``.
    """
    from arena_eval.config import ConfigError

    known = {**SCENE_CAMERAS, **embodiment_cameras}
    if names is None:  # a humanoid's head camera too: GR00T's ego view
        names = ("front", *(n for n in ("wrist", "head") if n in embodiment_cameras))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"cameras.names: unknown camera(s) {', '.join(unknown)}; "
            f"valid cameras: {', '.join(sorted(known))}"
        )
    return {f"image_{n}": known[n] for n in names}


@dataclass(frozen=True)
class CameraSetup:
    """What an env renders: observation key -> MJCF camera, image size, quality."""

    cameras: dict[str, str]
    width: int
    height: int
    quality: str = "fast"


class ModelRenderer:
    """One ``mujoco.Renderer`` for one compiled model, rendering any of its sims' cameras."""

    def __init__(self, model, setup: CameraSetup, private: bool = False) -> None:
        import copy

        import mujoco

        gl_backend()
        # private: draw from a copy of the model whose visual fields follow the rendered row
        # (per-episode light and colours), leaving the shared compiled model untouched.
        self.private = private
        if private:
            model = copy.copy(model)
        self.model = model
        vis = model.vis
        # Our own settings on a cached model: they only affect rendering, so sharing is harmless.
        vis.global_.offwidth = max(vis.global_.offwidth, setup.width)
        vis.global_.offheight = max(vis.global_.offheight, setup.height)
        fast = setup.quality == "fast"
        vis.quality.offsamples = 0 if fast else 4  # multisample antialiasing (MuJoCo's default 4)
        self.renderer = mujoco.Renderer(model, setup.height, setup.width)
        if fast:
            flags = self.renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
        # Debug sites (the gripper's green grip-site line) are not part of what a camera sees.
        self.option = mujoco.MjvOption()
        self.option.sitegroup[:] = 0
        self.camera_ids = {
            key: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, cam)
            for key, cam in setup.cameras.items()
        }
        missing = [setup.cameras[k] for k, i in self.camera_ids.items() if i < 0]
        if missing:
            raise ValueError(f"the compiled scene has no camera {', '.join(missing)}")

    def render(self, data, out: dict[str, np.ndarray], row: int) -> None:
        """Render every camera of one sim's MjData into ``out[key][row]``."""
        for key, cam in self.camera_ids.items():
            self.renderer.update_scene(data, cam, self.option)
            self.renderer.render(out=out[key][row])

    def close(self) -> None:
        self.renderer.close()
