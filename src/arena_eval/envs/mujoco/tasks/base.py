"""What a task provides: fixtures and the object in the scene, resets, success/failure terms.

Every task holds one free object from the catalog (the thing to manipulate, or a bystander
whose motion ``object_moved`` reports). The shared object logic lives here; a task module adds
its fixtures, its reset distribution and its terms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import mujoco
import numpy as np

from arena_eval.envs.base import ArraySpec
from arena_eval.envs.mujoco.objects import ObjectSpec
from arena_eval.envs.observations import Read, cached_reads, observe
from arena_eval.geometry import quat_mul

TABLE_TOP = 0.0  # the table's surface is the world's z = 0; the robot stands on it
# Thresholds from the reference's metrics (see docs/metrics.md).
OBJECT_MOVED_DISTANCE = 0.05
OBJECT_MOVED_SPEED = 0.5
DOOR_MOVED_OPENNESS = 0.05
WORLD_CONTYPE, WORLD_CONAFFINITY = 1, 3
# How far above an object near the body a humanoid's ready hands stay so that its forearms
# (which hang lower, near the body) clear it: G1 with the 0.21 m cracker box needs 0.12 m
# (at 0.08 its shoulder link still touched the box in 2 of 8 envs on the fridge task).
FOREARM_CLEARANCE = 0.12


class Task:
    name: ClassVar[str] = ""
    has_door: ClassVar[bool] = False
    # Where distractor objects may stand: ((x_min, x_max), (y_min, y_max)) on the table, clear
    # of the robot and of fixtures; None: this task takes no distractors.
    distractor_region: ClassVar[tuple[tuple[float, float], tuple[float, float]] | None] = None

    @dataclasses.dataclass
    class Config:
        episode_length_s: float = 6.0

    def __init__(self, config: Any) -> None:
        self.config = config

    # -- scene ---------------------------------------------------------------------------
    def build(self, world: mujoco.MjSpec, obj: ObjectSpec) -> None:
        self.add_table(world)
        self.add_object(world, obj)

    @staticmethod
    def add_table(world: mujoco.MjSpec) -> None:
        table = world.worldbody.add_body(name="table", pos=[0.35, 0, TABLE_TOP - 0.025])
        geom = table.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.6, 0.7, 0.025])
        geom.rgba = [0.55, 0.45, 0.35, 1]
        geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY

    @staticmethod
    def add_object(
        world: mujoco.MjSpec, obj: ObjectSpec, name: str = "object", pos: tuple | None = None
    ) -> None:
        """The task's free object (``name`` and ``pos`` for extra, parked copies elsewhere)."""
        pos = [0.5, 0, obj.height / 2] if pos is None else list(pos)
        body = world.worldbody.add_body(name=name, pos=pos)
        body.add_freejoint(name=f"{name}_joint")
        if obj.shape == "cylinder":
            size = [obj.size[0] / 2, obj.size[2] / 2, 0]
            kind = mujoco.mjtGeom.mjGEOM_CYLINDER
        else:
            size = [s / 2 for s in obj.size]
            kind = mujoco.mjtGeom.mjGEOM_BOX
        geom = body.add_geom(name=f"{name}_geom", type=kind, size=size, mass=obj.mass)
        geom.rgba = list(obj.rgba)
        geom.friction = [1.0, 0.01, 0.001]
        geom.condim = 4
        geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY

    # -- spec ----------------------------------------------------------------------------
    def observations(self) -> dict[str, ArraySpec]:
        return {
            "object_pos": ArraySpec((3,)),
            "object_quat": ArraySpec((4,)),
            "object_lin_vel": ArraySpec((3,)),
            "object_size": ArraySpec((3,)),
        }

    def info(self) -> dict[str, Any]:
        """Static, privileged layout facts for scripted experts (JSON-able)."""
        return {}

    # Whether the task's object stands near the body, under a humanoid's forearms at its ready
    # pose (G1's left forearm started 3-4 cm inside it on these tasks): the ready hands then
    # keep ``FOREARM_CLEARANCE`` above the job's tallest object.
    object_under_arms: ClassVar[bool] = False

    def fixtures_top(self, objects: Sequence[ObjectSpec] = ()) -> float | None:
        """How high above the table a robot's ready hands must stay to clear this task's
        fixtures and, where ``object_under_arms``, the job's ``objects``; None where nothing
        stands under them. A humanoid raises its stance to it (``Embodiment.clear_fixtures``):
        a robot that starts inside a fixture or an object is pushed out by the solver,
        differently by each engine."""
        if self.object_under_arms and objects:
            return max(o.height for o in objects) + FOREARM_CLEARANCE
        return None

    def episode_steps(self, control_hz: float) -> int:
        return max(1, round(self.config.episode_length_s * control_hz))

    def bind(self, model: mujoco.MjModel, sims, obj: ObjectSpec) -> TaskState:
        raise NotImplementedError


class TaskState:
    """A task bound to one compiled model and its simulations (``sims``, ``m`` of them)."""

    def __init__(self, task: Task, model: mujoco.MjModel, sims, obj: ObjectSpec) -> None:
        self.task = task
        self.sims = sims
        self.obj = obj
        joint = model.joint("object_joint")
        self.obj_q = int(joint.qposadr[0])
        self.obj_v = int(joint.dofadr[0])
        self.obj_body = model.body("object").id
        m = sims.nsim
        self.size_rows = np.tile(np.asarray(obj.size, dtype=float), (m, 1))  # object_size
        self.subtasks: dict[str, np.ndarray] = {}
        # Views of the object's state in every simulation (the Batch's arrays persist).
        self.pos_view = sims.qpos[:, self.obj_q : self.obj_q + 3]
        self.lin_vel_view = sims.qvel[:, self.obj_v : self.obj_v + 3]
        # The moved test: displacement and velocity side by side, so that one square and one sum
        # serve both; each step only raises the episode's peaks (squared displacement, squared
        # speed), and ``moved`` compares them with the thresholds when an episode's record asks.
        # Laid out (axis, displacement|velocity, simulation): each operation then runs on whole
        # contiguous arrays of one shape, NumPy's fast path (docs/performance.md).
        self._motion = np.zeros((3, 2, m))
        self._start = np.zeros((3, 2, m))  # [:, 0] the start position, [:, 1] stays zero
        self.start_pos = self._start[:, 0].T  # (m, 3), a view: the episode's start position
        self._sum = np.zeros((2, m))
        self._peak = np.zeros((2, m))
        self._motion_limits = np.array([[OBJECT_MOVED_DISTANCE**2], [OBJECT_MOVED_SPEED**2]])

    # -- resets --------------------------------------------------------------------------
    def place_object(self, rows: np.ndarray, xy: np.ndarray, yaw: np.ndarray) -> None:
        qpos = self.sims.qpos
        qpos[rows, self.obj_q : self.obj_q + 2] = xy
        qpos[rows, self.obj_q + 2] = TABLE_TOP + self.obj.height / 2 + 1e-4
        qpos[rows, self.obj_q + 3] = np.cos(yaw / 2)
        qpos[rows, self.obj_q + 4 : self.obj_q + 6] = 0.0
        qpos[rows, self.obj_q + 6] = np.sin(yaw / 2)
        self.sims.qvel[rows, self.obj_v : self.obj_v + 6] = 0.0

    def reset(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """Write each row's initial task state (object pose, fixtures) into qpos."""
        raise NotImplementedError

    def shift_object(self, rows: np.ndarray, dxy: np.ndarray, dyaw: np.ndarray) -> None:
        """Move each row's object by ``dxy`` and turn it by ``dyaw`` about the world's z axis,
        from where :meth:`reset` placed it (the ``object_pose`` variation; any backend)."""
        qpos, q = self.sims.qpos, self.obj_q
        qpos[rows, q : q + 2] += dxy
        half = np.asarray(dyaw, dtype=float) / 2
        turn = np.stack([np.cos(half), 0 * half, 0 * half, np.sin(half)], axis=-1)
        qpos[rows, q + 3 : q + 7] = quat_mul(turn, qpos[rows, q + 3 : q + 7])

    def after_reset(self, rows: np.ndarray) -> None:
        """Record the starting values that the episode's metrics compare against."""
        self.start_pos[rows] = self.sims.qpos[rows, self.obj_q : self.obj_q + 3]
        self._peak[:, rows] = 0.0
        for flags in self.subtasks.values():
            flags[rows] = False

    # -- terms ---------------------------------------------------------------------------
    @property
    def moved(self) -> np.ndarray:
        """Per simulation: whether this episode's object has moved (the reference's
        ``object_moved``: displaced over 5 cm from its start or faster than 0.5 m/s, at any
        step so far)."""
        return np.logical_or.reduce(self._peak > self._motion_limits, axis=0)

    def object_pos(self) -> np.ndarray:
        return self.pos_view

    def update(self) -> tuple[np.ndarray, np.ndarray]:
        """After a control step: update per-episode trackers; return (success, failure)."""
        # Squared norms, no square roots; displacement and velocity in one scratch array; the
        # thresholds only when a record asks (``moved``). Each operation costs microseconds
        # once the physics has evicted the caches, less on whole arrays of one shape
        # (docs/performance.md, "Where the 16-env gap goes"); the sums run x + y + z in that
        # order, as the reduction over the last axis did.
        motion, total = self._motion, self._sum
        motion[:, 0] = self.pos_view.T
        motion[:, 1] = self.lin_vel_view.T
        np.subtract(motion, self._start, out=motion)  # the velocity less +0.0: unchanged
        np.multiply(motion, motion, out=motion)
        np.add(motion[0], motion[1], out=total)
        np.add(total, motion[2], out=total)
        np.maximum(self._peak, total, out=self._peak)
        return self.terms()

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def door_moved(self, row: int) -> bool | None:
        return None

    def reads(self) -> list[Read]:
        """The observations read straight from the simulation's arrays (``observations.py``)."""
        q, v, qpos = self.obj_q, self.obj_v, self.sims.qpos
        return [
            Read("object_pos", qpos, slice(q, q + 3)),
            Read("object_quat", qpos, slice(q + 3, q + 7)),
            Read("object_lin_vel", self.sims.qvel, slice(v, v + 3)),
            Read("object_size", self.size_rows, constant=True),
        ]

    def derive(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        """Write the observations that are computed, not read, into ``out[key][rows]``."""

    def observe(self, out: dict[str, np.ndarray], rows: np.ndarray | slice) -> None:
        """Write this task's observations of every simulation into ``out[key][rows]``."""
        observe(cached_reads(self), out, rows)
        self.derive(out, rows)
