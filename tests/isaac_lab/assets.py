"""Local stand-ins for the USD files Isaac Lab's cartpole task loads from NVIDIA's servers.

Written with OpenUSD (``pxr``, shipped with Isaac Lab) at the paths the task names under
``ISAACSIM_ASSET_ROOT``: a cartpole (a rail fixed to the world, a cart on the prismatic joint
``slider_to_cart``, a pole on the revolute ``cart_to_pole``) and a ground plane with a collision
``Plane``. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

CARTPOLE = "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd"
GROUND = (
    "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda"
)


def _body(
    stage, path: str, pos, mass: float, shape: str, size, offset=(0.0, 0.0, 0.0), collide=True
):
    from pxr import Gf, UsdGeom, UsdPhysics

    xform = UsdGeom.Xform.Define(stage, path)
    xform.AddTranslateOp().Set(Gf.Vec3d(*pos))
    UsdPhysics.RigidBodyAPI.Apply(xform.GetPrim())
    mass_api = UsdPhysics.MassAPI.Apply(xform.GetPrim())
    mass_api.CreateMassAttr(mass)
    # The centre of mass at the geometry's centre (a pole's above its hinge), box inertia.
    mass_api.CreateCenterOfMassAttr(Gf.Vec3f(*offset))
    x, y, z = size
    mass_api.CreateDiagonalInertiaAttr(
        Gf.Vec3f(
            mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12
        )
    )
    geom = UsdGeom.Cube.Define(stage, f"{path}/geom") if shape == "box" else None
    geom.CreateSizeAttr(1.0)
    geom.AddTranslateOp().Set(Gf.Vec3d(*offset))
    geom.AddScaleOp().Set(Gf.Vec3f(*size))
    if collide:
        UsdPhysics.CollisionAPI.Apply(geom.GetPrim())
    return xform


def write_cartpole_assets(root: Path) -> None:
    from pxr import Gf, Usd, UsdGeom, UsdPhysics

    path = root / CARTPOLE
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    top = UsdGeom.Xform.Define(stage, "/cartpole")
    stage.SetDefaultPrim(top.GetPrim())
    UsdPhysics.ArticulationRootAPI.Apply(top.GetPrim())
    _body(stage, "/cartpole/rail", (0, 0, 0), 5.0, "box", (8.0, 0.03, 0.03), collide=False)
    _body(stage, "/cartpole/cart", (0, 0, 0), 1.0, "box", (0.2, 0.25, 0.2))
    _body(stage, "/cartpole/pole", (0, 0, 0), 0.1, "box", (0.04, 0.04, 1.0), offset=(0, 0, 0.5))

    fixed = UsdPhysics.FixedJoint.Define(stage, "/cartpole/root_joint")
    fixed.CreateBody1Rel().SetTargets(["/cartpole/rail"])
    slider = UsdPhysics.PrismaticJoint.Define(stage, "/cartpole/slider_to_cart")
    slider.CreateBody0Rel().SetTargets(["/cartpole/rail"])
    slider.CreateBody1Rel().SetTargets(["/cartpole/cart"])
    slider.CreateAxisAttr("X")
    slider.CreateLowerLimitAttr(-4.0)
    slider.CreateUpperLimitAttr(4.0)
    hinge = UsdPhysics.RevoluteJoint.Define(stage, "/cartpole/cart_to_pole")
    hinge.CreateBody0Rel().SetTargets(["/cartpole/cart"])
    hinge.CreateBody1Rel().SetTargets(["/cartpole/pole"])
    hinge.CreateAxisAttr("Y")
    for joint in (slider, hinge):
        joint.CreateLocalPos0Attr(Gf.Vec3f(0, 0, 0))
        joint.CreateLocalPos1Attr(Gf.Vec3f(0, 0, 0))
        joint.CreateLocalRot0Attr(Gf.Quatf(1, 0, 0, 0))
        joint.CreateLocalRot1Attr(Gf.Quatf(1, 0, 0, 0))
    stage.Save()

    path = root / GROUND
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    ground = UsdGeom.Xform.Define(stage, "/GroundPlane")
    stage.SetDefaultPrim(ground.GetPrim())
    plane = UsdGeom.Plane.Define(stage, "/GroundPlane/CollisionPlane")
    plane.CreateAxisAttr("Z")
    UsdPhysics.CollisionAPI.Apply(plane.GetPrim())
    stage.Save()
