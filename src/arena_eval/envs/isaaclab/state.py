"""The task's view of Isaac Lab state: the composed MuJoCo model's ``qpos``/``qvel`` layout.

Tasks are written once against a small state view, ``nsim``, ``control_hz``, ``qpos``, ``qvel``
and ``sensordata`` (rows = envs, columns = the compiled scene's generalized coordinates and
sensor slots; what ``TaskState`` reads and writes). On MuJoCo those are the Batch's own arrays.
Here they are numpy mirrors: :meth:`pull` fills them from Isaac Lab's assets after a step, and
:meth:`push` writes the rows a task reset back into the simulation. Positions are env-local (the
env's origin subtracted) and quaternions MuJoCo's (w, x, y, z), so a task's numbers mean the
same on both backends.

``sensordata`` mirrors the scene's MuJoCo ``contact`` sensors (:func:`contact_specs`; the
other sensors' columns stay zero): each becomes an Isaac Lab ``ContactSensor`` (on Newton,
``newton.sensors.SensorContact``) of the sensed body against the reference body's shapes, and
the view writes MuJoCo's layout for a net-force sensor: the number of touching shapes, then
the net contact force on the body in the world frame (normal and friction together, as
MuJoCo's).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch


def _np(x) -> np.ndarray:
    t = x.torch if hasattr(x, "torch") else x
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def wxyz(q: np.ndarray) -> np.ndarray:
    return q[..., [3, 0, 1, 2]]


def xyzw(q: np.ndarray) -> np.ndarray:
    return q[..., [1, 2, 3, 0]]


def rotate_inverse(q_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate world vectors into the frame of unit quaternions ``q`` (w, x, y, z)."""
    w, u = q_wxyz[:, :1], -q_wxyz[:, 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def rotate(q_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, u = q_wxyz[:, :1], q_wxyz[:, 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


@dataclass(frozen=True)
class ContactSpec:
    """A MuJoCo contact sensor of a free body's geom against a static body's geoms."""

    name: str
    adr: int  # its first column of ``sensordata``: found, then the net force (3)
    body: str  # the sensed geom's body (MJCF name)
    shapes: tuple[str, ...]  # the reference body's geoms, as prims under the scene's Geometry


FOUND_AND_FORCE, NETFORCE = 1 | 2, 3  # mjtConDataField bits, mjtConDataReduce


def contact_specs(model: mujoco.MjModel) -> list[ContactSpec]:
    """The contact sensors of a compiled scene the view can mirror; anything else raises
    ``ValueError`` saying what (a backend must not fake a term it cannot measure)."""
    from arena_eval.envs.isaaclab.usd import is_welded, welded_geom_name

    out = []
    for i in range(model.nsensor):
        if model.sensor_type[i] != mujoco.mjtSensor.mjSENS_CONTACT:
            continue
        sensor = model.sensor(i)
        fields, reduce, num = (int(x) for x in model.sensor_intprm[i, :3])
        geom_obj = model.sensor_objtype[i] == mujoco.mjtObj.mjOBJ_GEOM
        body_ref = model.sensor_reftype[i] == mujoco.mjtObj.mjOBJ_BODY
        ref = int(model.sensor_refid[i])
        if not (fields == FOUND_AND_FORCE and reduce == NETFORCE and num == 1):
            raise ValueError(
                f"contact sensor {sensor.name!r}: the Isaac Lab view mirrors found + net force "
                f"(one slot) only, got fields={fields}, reduce={reduce}, num={num}"
            )
        body_id = int(model.geom_bodyid[int(model.sensor_objid[i])]) if geom_obj else -1
        free = (
            body_id > 0
            and model.body_jntnum[body_id] == 1
            and model.jnt_type[model.body_jntadr[body_id]] == mujoco.mjtJoint.mjJNT_FREE
        )
        if not (free and body_ref and is_welded(model, ref)):
            raise ValueError(
                f"contact sensor {sensor.name!r}: the Isaac Lab view mirrors a free body's geom "
                "against a static top-level body only"
            )
        body = model.body(body_id).name
        ref_name = model.body(ref).name
        shapes = tuple(
            welded_geom_name(ref_name, model.geom(g).name)
            for g in range(model.ngeom)
            if model.geom_bodyid[g] == ref
        )
        out.append(ContactSpec(sensor.name, int(sensor.adr[0]), body, shapes))
    return out


class StateView:
    """``qpos``/``qvel`` mirrors of a scene for its tasks; see the module docstring."""

    def __init__(
        self,
        model: mujoco.MjModel,
        origins: np.ndarray,
        control_hz: float,
        objects: dict,  # MJCF free-joint name -> RigidObject
        articulations: list,  # Articulation assets whose joints are MJCF joints by name
        device: str,
        env_ids: np.ndarray | None = None,  # the envs this view's rows are (default: all)
    ) -> None:
        self.model = model
        self.env_ids = np.arange(len(origins)) if env_ids is None else np.asarray(env_ids)
        self.nsim = len(self.env_ids)
        self.control_hz = control_hz
        self.origins = origins[self.env_ids].astype(np.float64)
        self.device = device
        self.qpos = np.tile(model.qpos0, (self.nsim, 1))
        self.qvel = np.zeros((self.nsim, model.nv))
        self.sensordata = np.zeros((self.nsim, model.nsensordata))
        self.contacts: list = []  # (ContactSensor, first sensordata column); set by the backend
        self.free = []  # (rigid object, qpos adr, dof adr)
        for joint_name, asset in objects.items():
            joint = model.joint(joint_name)
            self.free.append((asset, int(joint.qposadr[0]), int(joint.dofadr[0])))
        # Mocap bodies (a button's housing): their fixed-base articulation's root position.
        self.mocap_pos = np.tile(model.body_pos[model.body_mocapid >= 0], (self.nsim, 1, 1))
        self.mocap: list = []  # (articulation, mocap id); set by the backend
        self.hinges = []  # (articulation, its joint ids, qpos adrs, dof adrs)
        for asset in articulations:
            ids, qadr, vadr = [], [], []
            for i, name in enumerate(asset.joint_names):
                try:
                    joint = model.joint(name)
                except KeyError:
                    continue
                ids.append(i)
                qadr.append(int(joint.qposadr[0]))
                vadr.append(int(joint.dofadr[0]))
            if ids:
                self.hinges.append((asset, ids, np.array(qadr), np.array(vadr)))

    def pull(self) -> None:
        """Read every mirrored coordinate from the simulation."""
        e = self.env_ids
        for asset, q, v in self.free:
            data = asset.data
            quat = wxyz(_np(data.root_quat_w)[e])
            self.qpos[:, q : q + 3] = _np(data.root_pos_w)[e] - self.origins
            self.qpos[:, q + 3 : q + 7] = quat
            self.qvel[:, v : v + 3] = _np(data.root_lin_vel_w)[e]
            # MuJoCo's free joint keeps angular velocity in the body frame.
            self.qvel[:, v + 3 : v + 6] = rotate_inverse(quat, _np(data.root_ang_vel_w)[e])
        for asset, k in self.mocap:
            self.mocap_pos[:, k] = _np(asset.data.root_pos_w)[e] - self.origins
        for asset, ids, qadr, vadr in self.hinges:
            self.qpos[:, qadr] = _np(asset.data.joint_pos)[np.ix_(e, ids)]
            self.qvel[:, vadr] = _np(asset.data.joint_vel)[np.ix_(e, ids)]
        for sensor, adr in self.contacts:
            # [envs, sensed bodies (1), counterpart shapes, 3]: force on the body per shape.
            forces = _np(sensor.data.force_matrix_w)[e, 0]
            self.sensordata[:, adr] = np.count_nonzero(np.any(forces != 0.0, axis=-1), axis=1)
            self.sensordata[:, adr + 1 : adr + 4] = forces.sum(axis=1)

    def push(self, rows: np.ndarray) -> None:
        """Write the mirrored coordinates of ``rows`` (this view's rows) into the simulation."""
        env_ids = torch.as_tensor(self.env_ids[rows], dtype=torch.long, device=self.device)
        for asset, q, v in self.free:
            quat = self.qpos[rows, q + 3 : q + 7]
            pose = np.concatenate([self.qpos[rows, q : q + 3] + self.origins[rows], xyzw(quat)], 1)
            vel = np.concatenate(
                [self.qvel[rows, v : v + 3], rotate(quat, self.qvel[rows, v + 3 : v + 6])], 1
            )
            asset.write_root_pose_to_sim_index(root_pose=self._t(pose), env_ids=env_ids)
            asset.write_root_velocity_to_sim_index(root_velocity=self._t(vel), env_ids=env_ids)
        for asset, k in self.mocap:
            pose = np.zeros((len(rows), 7))
            pose[:, :3] = self.mocap_pos[rows, k] + self.origins[rows]
            pose[:, 6] = 1.0  # (x, y, z, w)
            asset.write_root_pose_to_sim_index(root_pose=self._t(pose), env_ids=env_ids)
        for asset, ids, qadr, vadr in self.hinges:
            joint_ids = torch.as_tensor(ids, dtype=torch.long, device=self.device)
            asset.write_joint_position_to_sim_index(
                position=self._t(self.qpos[np.ix_(rows, qadr)]),
                joint_ids=joint_ids,
                env_ids=env_ids,
            )
            asset.write_joint_velocity_to_sim_index(
                velocity=self._t(self.qvel[np.ix_(rows, vadr)]),
                joint_ids=joint_ids,
                env_ids=env_ids,
            )

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=self.device)
