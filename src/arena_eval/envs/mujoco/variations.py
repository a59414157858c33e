"""Variations on the batched MuJoCo backend: per-simulation model fields, written at reset.

``mujoco.batch.Batch.expand`` gives a model field per-simulation values, so one Batch runs each
env with its own object mass, friction, light, camera pose and colours; ``set_const`` then
recomputes the constants derived from them (inertia-weighted invariants, camera frames) for the
reset rows only. The step itself is untouched: nothing here runs between resets. Distractors
are extra free bodies composed into the scene (one per object they are drawn from); an episode
that does not use one parks it out of every camera's view, floating and colliding with nothing,
so it adds no contacts to the step.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from arena_eval.envs.mujoco.objects import get_object
from arena_eval.envs.mujoco.tasks.base import TABLE_TOP, Task
from arena_eval.variations import Variations, apply_object_pose, jitter_camera, stream_seed

PARK_X, PARK_Y, PARK_STEP = 4.0, 4.0, 0.4  # behind the front camera, far from everything


def distractor_name(i: int) -> str:
    return f"distractor_{i}"


def scene_key(variations: Variations | None) -> tuple:
    """What variations add to the compiled scene (part of the model's cache key)."""
    if variations is None or "distractors" not in variations:
        return ()
    return ("distractors", variations["distractors"].objects)


def build_scene(world: mujoco.MjSpec, task: Task, variations: Variations | None) -> None:
    """Compose the distractors' bodies, parked out of view (floating, colliding with nothing,
    until an episode places them: see ``GroupVariations``)."""
    if variations is None or "distractors" not in variations:
        return
    for i, name in enumerate(variations["distractors"].objects):
        obj = get_object(name)
        task.add_object(world, obj, distractor_name(i), _park(i, obj.height))
        # Compiled with gravity compensation, so the model computes it at all; each episode
        # turns it off for the distractors it places (per simulation).
        world.body(distractor_name(i)).gravcomp = 1.0


def _park(i: int, height: float) -> tuple[float, float, float]:
    return (PARK_X + PARK_STEP * (i + 0.5), PARK_Y, TABLE_TOP + height / 2 + 1e-4)


class GroupVariations:
    """Applies each reset row's drawn values to one group's Batch (one compiled model)."""

    def __init__(self, variations: Variations, sims, task_state, task: Task, cameras=()) -> None:
        self.v = variations
        self.sims = sims
        self.state = task_state
        self.task = task
        model = sims.model
        batch = sims.batch
        self.obj_body = task_state.obj_body
        self.obj_geom = model.geom("object_geom").id
        self.setconst = False
        self.visual: dict[str, np.ndarray] = {}  # per-sim fields the renderer must copy
        if "object_mass" in variations:
            self.mass = batch.expand("body_mass")
            self.inertia = batch.expand("body_inertia")
            self.base_mass = float(model.body_mass[self.obj_body])
            self.base_inertia = model.body_inertia[self.obj_body].copy()
        if "friction" in variations:
            self.friction = batch.expand("geom_friction")
            self.base_friction = float(model.geom_friction[self.obj_geom, 0])
            # The object's coefficient becomes that of every contact it makes: MuJoCo takes
            # the higher-priority geom's friction (else the larger of the two).
            priority = batch.expand("geom_priority")
            priority[:, self.obj_geom] = int(model.geom_priority.max()) + 1
        if "lighting" in variations:
            self.light_dir = batch.expand("light_dir")
            self.light_diffuse = batch.expand("light_diffuse")
            self.base_diffuse = model.light_diffuse.copy()
            self.visual["light_diffuse"] = self.light_diffuse
        if "camera_pose" in variations:
            names = list(cameras) or [model.camera(i).name for i in range(model.ncam)]
            self.cams = np.array([model.camera(n).id for n in names], dtype=np.int64)
            self.cam_pos = batch.expand("cam_pos")
            self.cam_quat = batch.expand("cam_quat")
            self.base_cam_pos = model.cam_pos[self.cams].copy()
            self.base_cam_quat = model.cam_quat[self.cams].copy()
        if "table_color" in variations or "object_color" in variations:
            self.rgba = batch.expand("geom_rgba")
            self.table_geom = int(model.body("table").geomadr[0])
            self.base_object_rgba = model.geom_rgba[self.obj_geom].copy()
            self.visual["geom_rgba"] = self.rgba
        if "distractors" in variations:
            d = variations["distractors"]
            self.slots = {name: i for i, name in enumerate(d.objects)}
            self.slot_q = [
                int(model.joint(f"{distractor_name(i)}_joint").qposadr[0])
                for i in range(len(d.objects))
            ]
            self.slot_v = [
                int(model.joint(f"{distractor_name(i)}_joint").dofadr[0])
                for i in range(len(d.objects))
            ]
            self.radius = {n: math.hypot(*get_object(n).size[:2]) / 2 for n in d.objects}
            self.heights = {n: get_object(n).height for n in d.objects}
            self.obj_radius = math.hypot(*task_state.obj.size[:2]) / 2
            # A parked distractor floats (gravity compensated) and collides with nothing, so
            # it costs the step no contacts; a placed one is an ordinary object.
            self.slot_body = [model.body(distractor_name(i)).id for i in range(len(d.objects))]
            self.slot_geom = [model.geom(f"{distractor_name(i)}_geom").id for i in
                              range(len(d.objects))]  # fmt: skip
            self.contype = batch.expand("geom_contype")
            self.conaffinity = batch.expand("geom_conaffinity")
            self.gravcomp = batch.expand("body_gravcomp")
            self.base_contype = int(model.geom_contype[self.slot_geom[0]])
            self.base_conaffinity = int(model.geom_conaffinity[self.slot_geom[0]])

    # -- reset ---------------------------------------------------------------------------
    def apply(self, rows: np.ndarray, values: list[dict], seeds: np.ndarray) -> None:
        """Write the drawn ``values`` (one dict per row) into the rows' model and state."""
        v = self.v
        setconst = False
        if "object_pose" in v:
            apply_object_pose(self.state, rows, values)
        if "object_mass" in v:
            scale = np.array([x["object_mass.scale"] for x in values])
            self.mass[rows, self.obj_body] = self.base_mass * scale
            self.inertia[rows, self.obj_body] = self.base_inertia * scale[:, None]
            setconst = True
        if "friction" in v:
            scale = np.array([x["friction.scale"] for x in values])
            self.friction[rows, self.obj_geom, 0] = self.base_friction * scale
        if "lighting" in v:
            az = np.array([x["lighting.azimuth"] for x in values])
            el = np.array([x["lighting.elevation"] for x in values])
            gain = np.array([x["lighting.intensity"] for x in values])
            self.light_dir[rows, 0] = np.stack(
                [-np.cos(el) * np.cos(az), -np.cos(el) * np.sin(az), -np.sin(el)], axis=1
            )
            self.light_diffuse[rows] = self.base_diffuse[None] * gain[:, None, None]
            setconst = True
        if "camera_pose" in v:
            for j, cam in enumerate(self.cams):
                q0 = np.broadcast_to(self.base_cam_quat[j], (len(rows), 4))
                pos, quat = jitter_camera(self.base_cam_pos[j], q0, values)
                self.cam_pos[rows, cam], self.cam_quat[rows, cam] = pos, quat
            setconst = True
        if "table_color" in v:
            colors = v["table_color"].colors
            self.rgba[rows, self.table_geom] = [colors[x["table_color.color"]] for x in values]
        if "object_color" in v:
            colors = v["object_color"].colors
            self.rgba[rows, self.obj_geom] = [
                colors[x["object_color.color"]] or self.base_object_rgba for x in values
            ]
        if "distractors" in v:
            self._place_distractors(rows, values, seeds)
            setconst = True  # gravity compensation is a constant's input
        if setconst:
            self.sims.batch.set_const(rows)

    def _place_distractors(self, rows: np.ndarray, values: list[dict], seeds) -> None:
        """Each chosen distractor at a free spot of the task's region; the rest parked."""
        (x0, x1), (y0, y1) = self.task.distractor_region
        gap = self.v["distractors"].min_gap
        qpos, qvel = self.sims.qpos, self.sims.qvel
        q_obj = self.state.obj_q
        for row, x, seed in zip(rows, values, seeds, strict=True):
            rng = np.random.default_rng(stream_seed(int(seed), "distractors.place"))
            taken = [(qpos[row, q_obj], qpos[row, q_obj + 1], self.obj_radius)]
            chosen = x["distractors.objects"].split("+") if x["distractors.count"] else []
            placed: list[str] = []
            for name, i in self.slots.items():
                q, dof = self.slot_q[i], self.slot_v[i]
                qvel[row, dof : dof + 6] = 0.0
                spot = self._spot(rng, taken, self.radius[name], gap, x0, x1, y0, y1)
                body, geom = self.slot_body[i], self.slot_geom[i]
                if name not in chosen or spot is None:
                    qpos[row, q : q + 3] = _park(i, self.heights[name])
                    qpos[row, q + 3 : q + 7] = (1, 0, 0, 0)
                    self.contype[row, geom] = self.conaffinity[row, geom] = 0
                    self.gravcomp[row, body] = 1.0
                    continue
                self.contype[row, geom] = self.base_contype
                self.conaffinity[row, geom] = self.base_conaffinity
                self.gravcomp[row, body] = 0.0
                taken.append((*spot, self.radius[name]))
                placed.append(name)
                yaw = rng.uniform(-math.pi, math.pi)
                qpos[row, q : q + 3] = (*spot, TABLE_TOP + self.heights[name] / 2 + 1e-4)
                qpos[row, q + 3 : q + 7] = (math.cos(yaw / 2), 0, 0, math.sin(yaw / 2))
            if placed != chosen:  # the region was too full: record what stands there
                x["distractors.count"] = len(placed)
                x["distractors.objects"] = "+".join(placed) or "none"

    @staticmethod
    def _spot(rng, taken, radius, gap, x0, x1, y0, y1, tries: int = 200):
        """A point of the region whose circle clears every circle ``taken`` by ``gap``."""
        for _ in range(tries):
            x, y = rng.uniform(x0 + radius, x1 - radius), rng.uniform(y0 + radius, y1 - radius)
            if all(math.hypot(x - tx, y - ty) >= radius + tr + gap for tx, ty, tr in taken):
                return x, y
        return None

    # -- rendering -----------------------------------------------------------------------
    def sync_render_model(self, model: mujoco.MjModel, row: int) -> None:
        """Copy one row's visual fields (read by the renderer, not by the data) into ``model``."""
        for name, values in self.visual.items():
            getattr(model, name)[:] = values[row]
