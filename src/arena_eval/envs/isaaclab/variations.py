"""Variations on sim=isaaclab: the task object's mass and friction, and the object's and
table's colours, per env.

The MuJoCo backend writes each reset row's values into that simulation's model fields; here
the same values go through Isaac Lab's asset API into Newton's model, and the MuJoCo-Warp
solver takes them per world at its next step:

- ``object_mass``: ``RigidObject.set_masses_index`` / ``set_inertias_index`` (mass and inertia
  scaled together, as on MuJoCo). They flag ``BODY_INERTIAL_PROPERTIES``; the solver then
  rewrites ``body_mass``/``body_inertia`` of every world and recomputes the constants derived
  from them (``set_const``).
- ``friction``: the object shape's ``shape_material_mu`` row of each env (the binding Isaac
  Lab's own ``randomize_rigid_body_material`` event writes), then ``SHAPE_PROPERTIES``; the
  solver rewrites ``geom_friction`` per world. As on MuJoCo, the object's coefficient becomes
  that of every contact it makes: its geom gets the highest contact priority, which MuJoCo-Warp
  reads per contact (without it a contact takes the larger of the two coefficients, so a low
  draw would never show against the table's 1.0). ``geom_priority`` is shared by all worlds
  and Newton writes it only when the solver is built, so it is set once on the solver's model.

- ``camera_pose``: each camera's frame-view offset of each env (its pose relative to its body,
  or to the world for a scene camera), moved by the drawn offset and turn in the camera's own
  frame, as on MuJoCo (``cam_pos``/``cam_quat`` per simulation); the camera reads it at its next
  render.
- ``object_color``, ``table_color``: the shape's row of Newton's ``shape_color``, which the ray
  tracer reads at each render (each env has its own shapes). The converter stored MuJoCo's
  colours there gamma-encoded (sRGB, which the renderer decodes), so the palette's colours are
  encoded the same way.

Nothing here runs between resets; the step is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# What this module applies (``arena_eval.variations.BACKEND_SUPPORT`` lists these).
APPLIED = ("object_mass", "friction", "object_color", "table_color")


def srgb(linear: np.ndarray) -> np.ndarray:
    """Gamma-encode linear RGB in [0, 1] as the USD converter stored MuJoCo's colours."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


class GroupVariations:
    """Applies the drawn mass, friction and colours of one group's object (and its envs'
    table) to its envs' rows."""

    def __init__(
        self, variations, asset, env_ids: np.ndarray, device: str, table_prim: str = ""
    ) -> None:
        import torch

        self.v = variations
        self.asset = asset
        self.env_ids = np.asarray(env_ids, dtype=np.int64)
        self.device = device
        self._torch = torch
        self.mu = None
        if "object_mass" in variations:
            data = asset.data
            self.base_mass = data.body_mass.torch[0, 0].item()
            self.base_inertia = data.body_inertia.torch[0, 0].clone()
        if "friction" in variations:
            import warp as wp
            from isaaclab_newton.physics import NewtonManager

            model = NewtonManager.get_model()
            # (num_envs, bodies, shapes of a body) of this asset: one body, one shape.
            self.mu = wp.to_torch(asset._root_view.get_attribute("shape_material_mu", model))
            if tuple(self.mu.shape[1:]) != (1, 1):
                raise ValueError(
                    f"friction expects one collision shape on the task object, found "
                    f"{tuple(self.mu.shape[1:])} (bodies, shapes)"
                )
            self.base_mu = self.mu[0, 0, 0].item()
            _raise_priority(NewtonManager, asset)
        if "object_color" in variations or "table_color" in variations:
            from isaaclab_newton.physics import NewtonManager

            model = NewtonManager.get_model()
            body = _prim(asset)
            found = shapes_of(model, {int(i): [body, table_prim] for i in self.env_ids})
            self.object_shapes = np.array([found[int(i), body][0] for i in self.env_ids])
            self.table_shapes = np.array([found[int(i), table_prim][0] for i in self.env_ids])
            colors = model.shape_color.numpy()
            self.base_object_color = colors[self.object_shapes].copy()

    def apply(self, rows: np.ndarray, values: Sequence[Mapping[str, Any]]) -> None:
        """Write the drawn ``values`` (one dict per row of this group) into its envs."""
        torch = self._torch
        ids = torch.as_tensor(self.env_ids[rows], device=self.device)
        if "object_mass" in self.v:
            scale = torch.tensor(
                [x["object_mass.scale"] for x in values], dtype=torch.float32, device=self.device
            )
            inertia = self.base_inertia[None, None, :] * scale[:, None, None]
            self.asset.set_inertias_index(inertias=inertia, body_ids=[0], env_ids=ids)
            self.asset.set_masses_index(
                masses=(self.base_mass * scale)[:, None], body_ids=[0], env_ids=ids
            )
        if self.mu is not None:
            from isaaclab_newton.physics import NewtonManager
            from newton import ModelFlags

            scale = torch.tensor([x["friction.scale"] for x in values], dtype=self.mu.dtype)
            self.mu[ids.to(self.mu.device), 0, 0] = (self.base_mu * scale).to(self.mu.device)
            NewtonManager.add_model_change(ModelFlags.SHAPE_PROPERTIES)
        if "object_color" in self.v or "table_color" in self.v:
            self._colors(rows, values)

    def _colors(self, rows: np.ndarray, values: Sequence[Mapping[str, Any]]) -> None:
        from isaaclab_newton.physics import NewtonManager

        array = NewtonManager.get_model().shape_color
        colors = array.numpy()
        if "table_color" in self.v:
            palette = self.v["table_color"].colors
            rgb = [palette[x["table_color.color"]][:3] for x in values]
            colors[self.table_shapes[rows]] = srgb(rgb)
        if "object_color" in self.v:
            palette = self.v["object_color"].colors
            for row, x in zip(rows, values, strict=True):
                rgba = palette[x["object_color.color"]]  # None: the object's own colour
                own = self.base_object_color[row]
                colors[self.object_shapes[row]] = own if rgba is None else srgb(rgba[:3])
        array.assign(colors)


def shapes_of(model, env_prims: Mapping[int, Sequence[str]]) -> dict[tuple[int, str], list[int]]:
    """Newton's shape indices of each (env, prim below ``Geometry``): the prim's own shape (a
    welded geom) or those anywhere below it (a body's), in one pass over the shape labels."""
    paths = {
        f"/World/envs/env_{env}/Scene/Geometry/{prim}": (env, prim)
        for env, prims in env_prims.items()
        for prim in prims
    }
    out: dict[tuple[int, str], list[int]] = {key: [] for key in paths.values()}
    for i, label in enumerate(model.shape_label):
        path = label
        while "/Geometry/" in path:  # the shape's own prim, then each prim above it
            key = paths.get(path)
            if key is not None:
                out[key].append(i)
                break
            path = path.rpartition("/")[0]
    return out


def _prim(asset) -> str:
    """``asset``'s prim path below the scene's ``Geometry`` prim (``object``, ``object_1``)."""
    return asset.cfg.prim_path.split("/Scene/Geometry/", 1)[-1]


def object_geom(solver, model, asset) -> int:
    """The MuJoCo geom index of ``asset``'s collision shape (the same in every world)."""
    prim = _prim(asset)
    shapes = set(shapes_of(model, {0: [prim]})[0, prim])
    table = solver.mjc_geom_to_newton_shape.numpy()[0]
    geoms = [g for g, s in enumerate(table) if int(s) in shapes]
    if len(geoms) != 1:
        raise ValueError(f"expected one MuJoCo geom under env 0's {prim}, found {len(geoms)}")
    return geoms[0]


def _raise_priority(manager, asset) -> None:
    solver = manager._solver
    if solver is None or not hasattr(solver, "mjw_model"):
        raise ValueError("friction variations need the MuJoCo-Warp solver (newton_mjwarp)")
    priority = solver.mjw_model.geom_priority
    values = priority.numpy()
    values[object_geom(solver, manager.get_model(), asset)] = int(values.max()) + 1
    priority.assign(values)


class CameraJitter:
    """``camera_pose``: every camera of the env, per env, offset from its own pose."""

    def __init__(self, cameras: dict) -> None:
        self.views = []
        for camera in cameras.values():
            view = camera._view  # Isaac Lab's frame view of the camera prims (one per env)
            pos, quat = view.get_local_poses()
            xyzw = quat.torch.cpu().numpy().astype(np.float64)
            # (w, x, y, z) like MuJoCo's, for the shared quaternion helpers
            self.views.append(
                (view, pos.torch.cpu().numpy().astype(np.float64), xyzw[:, [3, 0, 1, 2]])
            )

    def apply(self, env_ids: np.ndarray, values: Sequence[Mapping[str, Any]]) -> None:
        import warp as wp

        from arena_eval.variations import jitter_camera

        for view, base_pos, base_quat in self.views:
            pos, quat = jitter_camera(base_pos[env_ids], base_quat[env_ids], values)
            quat = quat[:, [1, 2, 3, 0]]  # back to (x, y, z, w)
            device = view.device
            view.set_local_poses(
                translations=wp.array(pos.astype(np.float32), dtype=wp.vec3f, device=device),
                orientations=wp.array(quat.astype(np.float32), dtype=wp.vec4f, device=device),
                indices=wp.array(env_ids.astype(np.int32), dtype=wp.int32, device=device),
            )
