"""The composed scene as USD: our MjSpec composition, converted once and cached by content.

The same ``compose_spec`` that MuJoCo compiles is written out as one MJCF and converted by
``mujoco-usd-converter``. The scene's top-level bodies become the Isaac Lab assets: the
robot's root an ``Articulation``, a free body (the object) a ``RigidObject``, a fixture with
joints (a door) an ``Articulation``; fixed bodies without joints (the table) stay static parts
of the stage. The MuJoCo actuators are stripped: Isaac Lab's implicit actuators drive the
joints, with the gains that our embodiment states.

The USD lands under ``<cache>/usd/<sha256 of the MJCF and the converter's version>``, written
to a temporary folder and renamed, so a second run (or a parallel one) never converts again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mujoco
import numpy as np

from arena_eval.cache import cache_root, prune, touch

# Bump when what we write into the MJCF before converting changes (invalidates the cache).
BRIDGE_VERSION = 7


@dataclass(frozen=True)
class SceneAssets:
    """What the converted scene holds, by MJCF body name (= USD prim name)."""

    usd_path: Path
    robot: str  # the robot's root body
    objects: tuple[str, ...]  # free bodies
    fixtures: tuple[str, ...]  # articulated fixtures (bodies with joints under a fixed root)
    converted: bool  # False when the cache already had it
    convert_s: float


def _top_level(spec: mujoco.MjSpec) -> list[mujoco.MjsBody]:
    return [b for b in spec.worldbody.bodies]


def _subtree_has_joints(body: mujoco.MjsBody) -> bool:
    return bool(body.joints) or any(_subtree_has_joints(b) for b in body.bodies)


def classify(spec: mujoco.MjSpec, robot_roots: set[str]) -> tuple[str, tuple, tuple]:
    """Split a composed scene's top-level bodies into robot, free objects, jointed fixtures."""
    robot, objects, fixtures = None, [], []
    for body in _top_level(spec):
        if body.name in robot_roots:
            robot = robot or body.name
        elif any(j.type == mujoco.mjtJoint.mjJNT_FREE for j in body.joints):
            objects.append(body.name)
        elif _subtree_has_joints(body):
            fixtures.append(body.name)
    if robot is None:
        raise ValueError(f"no robot root among the scene's bodies (looked for {robot_roots})")
    return robot, tuple(objects), tuple(fixtures)


_GEOM_FIELDS = (
    "type", "size", "rgba", "contype", "conaffinity", "condim", "friction", "mass", "density",
    "material", "group", "priority", "solref", "solimp", "margin", "gap",
)  # fmt: skip


def welded_geom_name(body: str, geom: str) -> str:
    """The name (and USD prim name) a geom of a welded body gets on the world body."""
    return f"{body}_{geom or 'geom'}"


def is_welded(model: mujoco.MjModel, body: int) -> bool:
    """Whether :func:`weld_static_bodies` moves this compiled body's geoms onto the world:
    a jointless top-level body without children (the table, kitchen_pick_and_place's bin)."""
    return (
        int(model.body_parentid[body]) == 0
        and body > 0
        and not model.body_jntnum[body]
        and not np.any(model.body_parentid[1:] == body)
    )


def weld_static_bodies(spec: mujoco.MjSpec, keep: set[str]) -> None:
    """Move the geoms of jointless top-level bodies (the table) onto the world body.

    The converter gives every body a rigid body and a fixed joint to the world; outside an
    articulation such a joint exists only in the first env once Isaac Lab clones the scene, and
    the other envs' objects fell through their tables. World geoms are static colliders in
    every env."""
    for body in list(spec.worldbody.bodies):
        if body.name in keep or body.bodies or _subtree_has_joints(body):
            continue
        for geom in list(body.geoms):
            pos, quat = np.zeros(3), np.zeros(4)
            mujoco.mju_rotVecQuat(pos, np.asarray(geom.pos, float), np.asarray(body.quat, float))
            mujoco.mju_mulQuat(quat, np.asarray(body.quat, float), np.asarray(geom.quat, float))
            new = spec.worldbody.add_geom(name=welded_geom_name(body.name, geom.name))
            for field in _GEOM_FIELDS:
                setattr(new, field, getattr(geom, field))
            new.pos = pos + np.asarray(body.pos, float)
            new.quat = quat
        spec.delete(body)


def exclude_masked_pairs(spec: mujoco.MjSpec) -> int:
    """Make MuJoCo's collision masks explicit: one ``<exclude>`` per pair of bodies whose
    colliders ``contype``/``conaffinity`` never let touch. Returns how many were added.

    MuJoCo lets two geoms touch when ``contype`` of one shares a bit with ``conaffinity`` of the
    other. Our robots' geoms are ``contype=2, conaffinity=0``: they touch the world and the
    objects but never each other. The converter does not carry the masks, and Newton does not
    read them from USD: it filters only bodies joined by a joint. So on Isaac Lab a GR1 wrist
    box touched the palm and thumb two links further on, and a 1 rad wrist turn stopped
    0.2 rad short. The converter writes excludes as ``physics:filteredPairs``, which Newton
    (and PhysX) honour. A body whose colliders mix masks is excluded only from bodies none of
    its colliders can touch; world geoms (no body to name) are left alone: in our scenes they
    touch everything."""
    model = spec.compile()
    masks: dict[int, set[tuple[int, int]]] = {}
    for g in range(model.ngeom):
        kind = int(model.geom_contype[g]), int(model.geom_conaffinity[g])
        body = int(model.geom_bodyid[g])
        if body > 0 and any(kind) and model.body(body).name:
            masks.setdefault(body, set()).add(kind)
    done = {frozenset((e.bodyname1, e.bodyname2)) for e in spec.excludes}
    bodies = sorted(masks)
    added = 0
    for i, a in enumerate(bodies):
        for b in bodies[i + 1 :]:
            if any(t1 & f2 or t2 & f1 for t1, f1 in masks[a] for t2, f2 in masks[b]):
                continue
            pair = model.body(a).name, model.body(b).name
            if frozenset(pair) not in done:
                spec.add_exclude(bodyname1=pair[0], bodyname2=pair[1])
                added += 1
    return added


MASSLESS_KG = 1e-6  # what a massless body with colliders weighs in the USD (see below)


def keep_massless_bodies_massless(spec: mujoco.MjSpec) -> int:
    """Give a massless body that has colliders a negligible explicit mass. Returns how many.

    In MuJoCo an explicit ``<inertial mass="0">`` (G1's palms) makes a body massless whatever
    its geoms are; in USD a ``physics:mass`` of 0 means "not authored", so Newton computed
    the palm's mass from its collision mesh at 1000 kg/m^3: 97 g more on each G1 hand than
    MuJoCo has, at the end of a five-joint arm. USD cannot say "zero", so the body gets
    ``MASSLESS_KG`` and a matching tiny inertia, which Newton takes as given."""
    model = spec.compile()
    colliding = {
        int(model.geom_bodyid[g])
        for g in range(model.ngeom)
        if model.geom_contype[g] or model.geom_conaffinity[g]
    }
    changed = 0
    for b in sorted(colliding):
        if b == 0 or model.body_mass[b] > 0:
            continue
        body = spec.body(model.body(b).name)
        body.explicitinertial = True
        body.mass = MASSLESS_KG
        body.inertia = [MASSLESS_KG * 1e-4] * 3  # (1 cm)^2 per kg: a 1 mg speck
        changed += 1
    return changed


def mjcf_for_usd(spec: mujoco.MjSpec, robot_roots: set[str]) -> str:
    """The scene as one MJCF without actuators, sensors, cameras or sites (Isaac Lab drives the
    joints; the converter has no use for the others, and a site would become a visible shape
    that Newton's ray tracer draws where MuJoCo's camera does not), static bodies welded to the
    world, MuJoCo's collision masks stated as excludes (:func:`exclude_masked_pairs`) and massless
    bodies kept (nearly) massless (:func:`keep_massless_bodies_massless`)."""
    for kind in (spec.actuators, spec.sensors, spec.cameras, spec.sites):
        for item in list(kind):
            spec.delete(item)
    for body in spec.bodies:
        # A mocap body becomes a fixed-base root whose pose the state view writes per env (the
        # converter made it kinematic, and its jointed children kinematic with it).
        if body.mocap:
            body.mocap = False
    weld_static_bodies(spec, robot_roots)
    exclude_masked_pairs(spec)
    keep_massless_bodies_massless(spec)
    return spec.to_xml()


def scene_usd(spec: mujoco.MjSpec, robot_roots: set[str], cache: Path | None = None) -> SceneAssets:
    """Convert (or find in the cache) the USD of a composed scene."""
    robot, objects, fixtures = classify(spec, robot_roots)
    xml = mjcf_for_usd(spec, robot_roots)
    converter = metadata.version("mujoco-usd-converter")
    key = hashlib.sha256(f"{BRIDGE_VERSION}\n{converter}\n{xml}".encode()).hexdigest()[:24]
    folder = (cache or cache_root()) / "usd" / key
    manifest = folder / "scene.json"
    start = time.perf_counter()
    converted = not manifest.exists()
    if converted:
        _convert(xml, folder)
        prune(folder.parent, keep=folder)
    else:
        touch(folder)
    usd = folder / json.loads(manifest.read_text())["usd"]
    return SceneAssets(usd, robot, objects, fixtures, converted, time.perf_counter() - start)


def _newton_gravcomp(path: Path) -> None:
    """Newton reads a body's gravity compensation from ``mjc:gravcomp``; the converter writes
    ``mjc:body:gravcomp``. Without it the arm sagged 1.5 cm under its servos."""
    from pxr import Sdf, Usd

    stage = Usd.Stage.Open(str(path))
    for prim in stage.Traverse():
        attr = prim.GetAttribute("mjc:body:gravcomp")
        if attr and attr.HasAuthoredValue():
            prim.CreateAttribute("mjc:gravcomp", Sdf.ValueTypeNames.Float).Set(float(attr.Get()))
    stage.GetRootLayer().Save()


def _convert(xml: str, folder: Path) -> None:
    import mujoco_usd_converter

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (tmp / "scene.xml").write_text(xml)
        result = mujoco_usd_converter.Converter(layer_structure=False, scene=False).convert(
            str(tmp / "scene.xml"), str(tmp)
        )
        usd = Path(str(result.path)).name
        _newton_gravcomp(tmp / usd)
        (tmp / "scene.json").write_text(json.dumps({"usd": usd, "source": "scene.xml"}))
        try:
            tmp.rename(folder)
        except OSError:  # another process converted the same scene first: keep theirs
            if not (folder / "scene.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def movable_joints(usd_path: Path, root: str) -> list[str]:
    """Names of the revolute and prismatic joint prims under the top-level body ``root``: the
    articulation's joint names. The converter renames a joint whose name its body already
    has (``robot_torso_waist_yaw`` -> ``robot_torso_waist_yaw_1``); see :func:`mjcf_name`."""
    from pxr import Usd, UsdPhysics

    stage = Usd.Stage.Open(str(usd_path))
    top = stage.GetDefaultPrim().GetPath().AppendPath(f"Geometry/{root}")
    names = []
    for prim in Usd.PrimRange(stage.GetPrimAtPath(top)):
        if prim.IsA(UsdPhysics.RevoluteJoint) or prim.IsA(UsdPhysics.PrismaticJoint):
            names.append(prim.GetName())
    return names


def mjcf_name(name: str, exists) -> str | None:
    """The MJCF name behind a USD prim name: itself, or without the converter's ``_<n>``."""
    if exists(name):
        return name
    base, _, suffix = name.rpartition("_")
    return base if suffix.isdigit() and base and exists(base) else None
