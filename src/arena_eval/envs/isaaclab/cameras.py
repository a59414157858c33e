"""Cameras on Isaac Lab without Kit: our scenes' MuJoCo cameras as Isaac Lab cameras rendered
by Newton's Warp ray tracer (``NewtonWarpRendererCfg``), on the CPU or a GPU.

The converted USD carries no cameras, so each camera of a job is added to the scene config
before the scene is built (a camera cannot join a built scene: it asks the simulation context
for its renderer before ``sim.reset()``), with the pose, parent body and vertical field of view
the compiled MuJoCo model gives it. MuJoCo's camera frame (looking down -z, +y up) is USD's, so
the offset is given in the ``opengl`` convention. A camera on a body (a wrist, a head) is a
child prim of that body's prim, and reads its pose from the body's simulated pose (Isaac Lab's
Newton frame view) each time it renders (``update_latest_camera_pose``). Rendering is lazy: a
camera renders when its data is read, which the env does only on the steps whose frames it
keeps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FOCAL_LENGTH = 24.0  # any: the aperture is chosen to give MuJoCo's field of view


def body_prims(usd_path: Path, names: set[str]) -> dict[str, str]:
    """Each MJCF body named: its prim path below the scene's ``Geometry`` prim."""
    from pxr import Usd, UsdPhysics

    stage = Usd.Stage.Open(str(usd_path))
    geometry = stage.GetDefaultPrim().GetPath().AppendPath("Geometry")
    found: dict[str, str] = {}
    for prim in Usd.PrimRange(stage.GetPrimAtPath(geometry)):
        name = prim.GetName()
        if name in names and name not in found and prim.HasAPI(UsdPhysics.RigidBodyAPI):
            found[name] = str(prim.GetPath().MakeRelativePath(geometry))
    return found


def camera_cfgs(
    model,
    keys: dict[str, str],
    width: int,
    height: int,
    usd_path: Path,
    root: str,
    jitter: bool = False,
):
    """Isaac Lab camera configs of a job: observation key -> ``TiledCameraCfg``.

    ``keys`` maps observation keys (``image_front``) to MJCF camera names; ``root`` is the
    scene prim's path in each env (``{ENV_REGEX_NS}/Scene/Geometry/``); ``jitter``: the
    ``camera_pose`` variation moves the cameras per episode.
    """
    import isaaclab.sim as sim_utils
    from isaaclab.sensors import TiledCameraCfg
    from isaaclab_newton.renderers import NewtonWarpRendererCfg

    from arena_eval.config import ConfigError

    cams = {key: model.camera(name).id for key, name in keys.items()}
    bodies = {int(model.cam_bodyid[c]) for c in cams.values()} - {0}
    prims = body_prims(usd_path, {model.body(b).name for b in bodies})
    out = {}
    for key, cam in cams.items():
        if int(model.cam_mode[cam]) != 0:  # mjCAMLIGHT_FIXED
            raise ConfigError(
                f"camera {keys[key]!r} tracks a body (mode {int(model.cam_mode[cam])}): only "
                "fixed cameras run on sim=isaaclab"
            )
        body = int(model.cam_bodyid[cam])
        if body == 0:
            parent = "{ENV_REGEX_NS}"
        else:
            name = model.body(body).name
            if name not in prims:
                raise ConfigError(f"camera {keys[key]!r}: its body {name!r} is not in the USD")
            parent = root + prims[name]
        w, x, y, z = (float(v) for v in model.cam_quat[cam])
        fovy = math.radians(float(model.cam_fovy[cam]))
        aperture = 2 * FOCAL_LENGTH * math.tan(fovy / 2) * width / height
        out[key] = TiledCameraCfg(
            prim_path=f"{parent}/arena_{key}",
            offset=TiledCameraCfg.OffsetCfg(
                pos=tuple(float(v) for v in model.cam_pos[cam]),
                rot=(x, y, z, w),
                convention="opengl",
            ),
            spawn=sim_utils.PinholeCameraCfg(
                focal_length=FOCAL_LENGTH,
                horizontal_aperture=aperture,
                clipping_range=(0.01, 20.0),
            ),
            data_types=["rgb"],
            # A camera on a body reads the body's pose at every render (Isaac Lab's default
            # keeps the pose it had when the scene was built: the robot's USD rest pose), and
            # so does a scene camera that the camera_pose variation moves.
            update_latest_camera_pose=body != 0 or jitter,
            width=width,
            height=height,
            renderer_cfg=NewtonWarpRendererCfg(),
        )
    return out


def read_rgb(camera) -> np.ndarray:
    """Every env's current frame of an Isaac Lab camera: uint8 (num_envs, H, W, 3)."""
    rgb = camera.data.output["rgb"]
    rgb = rgb.torch if hasattr(rgb, "torch") else rgb
    return rgb.detach().cpu().numpy()


def hide_from_cameras(env_prims: dict[int, list[str]]) -> int:
    """Make the named prims' shapes (a body's, or a geom of the static scene) invisible to the
    ray tracer in the given envs: an object set's parked objects and their plates, so that each
    env's cameras see its own object only, as on MuJoCo, where the others do not exist.
    Returns the number of shapes hidden."""
    from isaaclab_newton.physics import NewtonManager
    from newton import ShapeFlags

    from arena_eval.envs.isaaclab.variations import shapes_of

    model = NewtonManager.get_model()
    hidden = [i for shapes in shapes_of(model, env_prims).values() for i in shapes]
    flags = model.shape_flags.numpy()
    flags[hidden] &= ~int(ShapeFlags.VISIBLE)
    model.shape_flags.assign(flags)
    # The ray tracer traces the model's shape BVH, built from the visible shapes when the model
    # was finalized: rebuild it ("after structural changes", Newton's Model.bvh_build_shapes).
    model.bvh_build_shapes(NewtonManager.get_state_0())
    return len(hidden)
