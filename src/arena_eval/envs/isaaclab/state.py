"""The task's view of Isaac Lab state: the composed MuJoCo model's ``qpos``/``qvel`` layout.

Tasks are written once against a small state view, ``nsim``, ``control_hz``, ``qpos`` and
``qvel`` (rows = envs, columns = the compiled scene's generalized coordinates; what
``TaskState`` reads and writes). On MuJoCo those are the Batch's own arrays. Here they are
numpy mirrors: :meth:`pull` fills them from Isaac Lab's assets after a step, and :meth:`push`
writes the rows a task reset back into the simulation. Positions are env-local (the env's
origin subtracted) and quaternions MuJoCo's (w, x, y, z), so a task's numbers mean the same
on both backends.
"""

from __future__ import annotations

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
