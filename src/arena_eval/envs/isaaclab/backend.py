"""The Isaac Lab backend: kit-less Isaac Lab 3.0 on Newton physics (MuJoCo-Warp solver).

One app per process: ``launch_simulation`` is entered once, when the first job needs it (with
Newton it starts no Kit; with ``sim.physics=physx`` it starts Isaac Sim's Kit where that is
installed), and left at exit. Each job gets a ``SimulationContext`` and an ``InteractiveScene``
built from our composed scene's USD (``usd.py``); closing the env clears both, so the next job
of a multirun or batch starts on a clean stage in the same app, with Warp's kernels and the
USD cache warm.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from importlib import metadata
from typing import Any

import numpy as np

from arena_eval.config import ConfigError, JobSpec

PHYSICS = ("newton_mjwarp", "physx")
# Tasks whose state is joints, free bodies, mocap bodies and contact sensors (what the state
# view mirrors).
TASKS = ("lift_object", "open_microwave", "fridge", "press_button", "kitchen_pick_and_place")
FRANKAS = ("franka_ik", "franka_joint_pos")  # Isaac Lab's DifferentialIKController
# The others run their own MuJoCo-side controller through a robot view (embodiment.py).
EMBODIMENTS = (*FRANKAS, "gr1_ik", "gr1_joint", "g1_ik", "g1_joint")
_VERSIONS = ("isaaclab", "newton", "mujoco-warp", "warp-lang", "mujoco", "mujoco-usd-converter")


class IsaacLabUnavailable(ConfigError):
    """Isaac Lab (or, for PhysX, Isaac Sim) cannot run here; the message says what to do."""


def compatible(task: str, embodiment: str) -> bool:
    return task in TASKS and embodiment in EMBODIMENTS


def _versions() -> dict[str, str]:
    out = {}
    for package in _VERSIONS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    return out


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


class IsaacLabBackend:
    name = "isaaclab"

    def __init__(self, params: dict) -> None:
        try:
            from isaaclab.app import launch_simulation
        except ImportError as err:
            raise IsaacLabUnavailable(
                f"sim=isaaclab needs Isaac Lab, which is not installed here ({err}). It needs "
                "Python 3.12: run `make setup-isaac` and use .venv-isaac/bin/arena-eval, or use "
                "the embedded backend with sim=mujoco (the default)."
            ) from None
        self.physics = str(params.get("physics", "newton_mjwarp"))
        if self.physics not in PHYSICS:
            raise ConfigError(
                f"sim.params.physics must be one of {', '.join(PHYSICS)}, got {self.physics!r}"
            )
        self.device = resolve_device(str(params.get("device", "auto")))
        os.environ.setdefault("WARP_CACHE_PATH", str(_warp_cache()))
        start = time.perf_counter()
        self._stack = contextlib.ExitStack()
        try:
            physics_cfg = self._physics_cfg(params)
            self._stack.enter_context(
                launch_simulation(
                    cfg=physics_cfg, launcher_args={"device": self.device, "headless": True}
                )
            )
        except (ImportError, RuntimeError, SystemExit) as err:  # Kit exits if it is missing
            if self.physics != "physx":
                raise
            raise IsaacLabUnavailable(
                "sim.params.physics=physx runs Isaac Sim's PhysX through Kit, which could not "
                f"start here ({type(err).__name__}: {err}). Install Isaac Sim on a GPU machine, "
                "or use the kit-less sim.params.physics=newton_mjwarp."
            ) from None
        self.stats: dict[str, Any] = {
            "physics": self.physics,
            "device": self.device,
            "app_start_s": time.perf_counter() - start,
            "scenes_built": 0,
            "usd_conversions": 0,
            "usd_cache_hits": 0,
            "versions": _versions(),
        }
        self._sim = None

    def _physics_cfg(self, params: dict):
        """The physics of one job: each job builds its own simulation context, so the
        solver's settings (``njmax``, ``nconmax``, ``solver``) may differ between the jobs of
        one app; the physics engine and the device may not."""
        if self.physics == "physx":
            from isaaclab_physx.physics import PhysxCfg

            return PhysxCfg()
        from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg

        njmax = int(params.get("njmax", 200))
        nconmax = int(params.get("nconmax", 64))
        given = dict(params.get("solver") or {})
        # Any field of Isaac Lab's MJWarpSolverCfg may be set under sim.params.solver; a name
        # it does not have is refused rather than dropped.
        known = {f.name for f in dataclasses.fields(MJWarpSolverCfg)} - {"njmax", "nconmax"}
        unknown = sorted(set(given) - known)
        if unknown:
            hint = (
                "set them as sim.params.njmax / sim.params.nconmax"
                if set(unknown) <= {"njmax", "nconmax"}
                else f"Isaac Lab's MJWarpSolverCfg has: {', '.join(sorted(known))}"
            )
            raise ConfigError(f"sim.params.solver: unknown {', '.join(unknown)}; {hint}")
        solver = {"integrator": "implicitfast", "cone": "elliptic", **given}
        return NewtonCfg(
            solver_cfg=MJWarpSolverCfg(njmax=njmax, nconmax=nconmax, **solver),
            num_substeps=1,
        )

    def _job_physics(self, job: JobSpec):
        params = job.sim_params
        physics = str(params.get("physics", "newton_mjwarp"))
        device = resolve_device(str(params.get("device", "auto")))
        if (physics, device) != (self.physics, self.device):
            raise ConfigError(
                f"this process runs Isaac Lab with sim.params.physics={self.physics} on "
                f"{self.device}; a job asked for {physics} on {device}. One process hosts one "
                "app on one device: run that job in another process."
            )
        return self._physics_cfg(params)

    # -- jobs ----------------------------------------------------------------------------
    def make_env(self, job: JobSpec, rank: int = 0):
        from arena_eval.envs.mujoco.backend import build_spec, make_job_embodiment, make_task

        if job.task == "isaaclab_task":
            return self._gym_task(job, rank)
        if not compatible(job.task, job.embodiment):
            raise ConfigError(
                f"sim=isaaclab runs env in {{{', '.join(TASKS)}}} with embodiment in "
                f"{{{', '.join(EMBODIMENTS)}}} so far; {job.task} with {job.embodiment} runs on "
                "sim=mujoco"
            )
        physics_cfg = self._job_physics(job)
        task = make_task(job)
        embodiment = make_job_embodiment(job, task)
        spec = build_spec(job, task, embodiment)
        # The app starts once per process: its time is the first job's setup only.
        first = self.stats["scenes_built"] == 0
        self.stats["scenes_built"] += 1
        timing: dict[str, Any] = {"app_start_s": self.stats["app_start_s"] if first else 0.0}
        start = time.perf_counter()
        env = self._build(job, task, embodiment, spec, rank, timing, physics_cfg)
        timing["scene_build_s"] = time.perf_counter() - start - timing["usd_s"]
        env.setup_timing = timing
        return env

    def _gym_task(self, job: JobSpec, rank: int):
        from arena_eval.envs.isaaclab.gym_task import make_task_env

        first = self.stats["scenes_built"] == 0
        self.stats["scenes_built"] += 1
        self._clear()  # the task makes its own simulation context, and clears it on close
        env = make_task_env(job, self.device, rank)
        env.setup_timing["app_start_s"] = self.stats["app_start_s"] if first else 0.0
        return env

    def _build(self, job, task, embodiment, spec, rank, timing, physics_cfg):
        import isaaclab.sim as sim_utils
        from isaaclab.actuators import ImplicitActuatorCfg
        from isaaclab.assets import ArticulationCfg, AssetBaseCfg, RigidObjectCfg
        from isaaclab.scene import InteractiveScene, InteractiveSceneCfg
        from isaaclab.sensors import ContactSensorCfg

        from arena_eval.envs.isaaclab import franka as isaac_franka
        from arena_eval.envs.isaaclab.cameras import camera_cfgs, hide_from_cameras
        from arena_eval.envs.isaaclab.drives import servo_gains
        from arena_eval.envs.isaaclab.embodiment import MjEmbodiment, actuators_for
        from arena_eval.envs.isaaclab.env import Group, IsaacLabEnv
        from arena_eval.envs.isaaclab.state import StateView, contact_specs
        from arena_eval.envs.isaaclab.usd import movable_joints, scene_usd
        from arena_eval.envs.isaaclab.variations import APPLIED, GroupVariations
        from arena_eval.envs.mujoco.backend import camera_keys, job_variations
        from arena_eval.envs.mujoco.objects import get_object
        from arena_eval.envs.mujoco.scene import compose_spec

        physics_hz = float(job.sim_params.get("physics_hz") or job.physics_hz)
        names = list(dict.fromkeys(job.objects))
        objs = [get_object(name) for name in names]
        world = compose_spec(task, embodiment, objs[0], physics_hz)
        bodies = ["object"]  # the body of each object of the set in the scene
        for k, obj in enumerate(objs if len(objs) > 1 else ()):
            _add_parking(world, k)
            if k:
                bodies.append(f"object_{k}")
                task.add_object(world, obj, name=bodies[k], pos=(*_parking(k), obj.height / 2))
        model = world.compile()  # the qpos/qvel layout the task code reads
        kp, kv = servo_gains(world, model)  # MuJoCo 4's, as the MuJoCo backend runs them
        roots = _robot_roots(embodiment)
        assets = scene_usd(world, roots)
        timing["usd_s"] = assets.convert_s
        timing["usd_converted"] = assets.converted
        self.stats["usd_conversions" if assets.converted else "usd_cache_hits"] += 1

        self._clear()
        self._sim = sim_utils.SimulationContext(
            sim_utils.SimulationCfg(dt=1.0 / physics_hz, device=self.device, physics=physics_cfg)
        )
        cfg = InteractiveSceneCfg(num_envs=job.num_envs, env_spacing=3.0, replicate_physics=True)
        root = "{ENV_REGEX_NS}/Scene/Geometry/"
        cfg.scene = AssetBaseCfg(
            prim_path="{ENV_REGEX_NS}/Scene",
            spawn=sim_utils.UsdFileCfg(usd_path=str(assets.usd_path)),
        )
        franka = job.embodiment in FRANKAS
        if franka:
            init = ArticulationCfg.InitialStateCfg(joint_pos=isaac_franka.home_joint_pos())
            drives = isaac_franka.actuators(embodiment, isaac_franka.servo_damping(model, kv))
        else:  # the embodiment's own controller through a robot view (embodiment.py)
            joints = movable_joints(assets.usd_path, assets.robot)
            init, drives = ArticulationCfg.InitialStateCfg(), actuators_for(model, joints, kp, kv)
        cfg.robot = ArticulationCfg(
            prim_path=root + assets.robot, spawn=None, init_state=init, actuators=drives
        )
        for i, name in enumerate(assets.objects):
            setattr(cfg, f"object_{i}", RigidObjectCfg(prim_path=root + name, spawn=None))
        # The task's contact sensors, one per object of the set (each group senses its own).
        try:
            contacts = contact_specs(model)
        except ValueError as err:
            raise ConfigError(f"sim=isaaclab cannot run {job.task}: {err}") from None
        for k, body in enumerate(bodies):
            for c in contacts:
                setattr(
                    cfg,
                    f"contact_{k}_{c.name}",
                    ContactSensorCfg(
                        prim_path=root + (body if c.body == "object" else c.body),
                        filter_shape_prim_expr=[root + shape for shape in c.shapes],
                    ),
                )
        for i, name in enumerate(assets.fixtures):
            # Passive joints: a drive with neither stiffness nor damping. The joint's own damping
            # and friction come with the USD (Newton's dof damping, as MuJoCo's); a drive
            # damping would add it a second time (the microwave door had twice MuJoCo's).
            joints = [
                model.joint(j).name
                for j in range(model.njnt)
                if _in_subtree(model, model.jnt_bodyid[j], model.body(name).id)
            ]
            setattr(
                cfg,
                f"fixture_{i}",
                ArticulationCfg(
                    prim_path=root + name,
                    spawn=None,
                    actuators={
                        "passive": ImplicitActuatorCfg(
                            joint_names_expr=joints, stiffness=0.0, damping=0.0
                        )
                    },
                ),
            )
        # Cameras (only when the job asks): Newton's Warp ray tracer, kit-less (cameras.py).
        keys = camera_keys(job, embodiment)
        variations = job_variations(job)
        if keys:
            c = job.cameras
            jitter = variations is not None and "camera_pose" in variations
            cams = camera_cfgs(model, keys, c.width, c.height, assets.usd_path, root, jitter)
            for key, cam in cams.items():
                setattr(cfg, f"camera_{key}", cam)
        scene = InteractiveScene(cfg)
        self._sim.reset()
        origins = scene.env_origins.detach().cpu().numpy()
        rigid = {name: scene[f"object_{i}"] for i, name in enumerate(assets.objects)}
        fixtures = [scene[f"fixture_{i}"] for i in range(len(assets.fixtures))]
        joint = _free_joint(model, "object")  # the coordinates the task reads
        env_objects = np.array(job.objects)
        applied = variations is not None and any(name in variations for name in APPLIED)
        table = _table_prim(model)
        groups = []
        for k, (name, obj) in enumerate(zip(names, objs, strict=True)):
            env_ids = np.flatnonzero(env_objects == name)
            view = StateView(
                model, origins, job.control_hz, {joint: rigid[bodies[k]]}, fixtures,
                self.device, env_ids,
            )  # fmt: skip
            view.mocap = [
                (asset, int(model.body(body).mocapid[0]))
                for body, asset in zip(assets.fixtures, fixtures, strict=True)
                if model.body(body).mocapid[0] >= 0
            ]
            view.contacts = [(scene[f"contact_{k}_{c.name}"], c.adr) for c in contacts]
            group = Group(obj, env_ids, view, task.bind(model, view, obj))
            if applied:
                group.variations = GroupVariations(
                    variations, rigid[bodies[k]], env_ids, self.device, table
                )
            groups.append(group)
            parked = np.flatnonzero(env_objects != name)
            _park(rigid[bodies[k]], parked, (*_parking(k), obj.height / 2), origins, self.device)
        if keys and len(names) > 1:  # cameras see each env's own object only, as on MuJoCo
            plates = [f"parking_{k}" for k in range(len(names))]
            others = {
                i: [bodies[k] for k, name in enumerate(names) if name != env_objects[i]]
                for i in range(job.num_envs)
            }
            hide_from_cameras({i: plates + others[i] for i in others})
        if franka:
            robot = isaac_franka.IsaacFranka(embodiment, scene["robot"], origins, self.device)
        else:
            robot = MjEmbodiment(
                embodiment, model, scene["robot"], origins, job.control_hz, self.device
            )
        decimation = max(1, round(physics_hz / job.control_hz))
        env = IsaacLabEnv(
            spec,
            self._sim,
            scene,
            robot,
            groups,
            decimation,
            rank,
            embodiment,
            variations,
            cameras={key: scene[f"camera_{key}"] for key in keys},
        )
        env.on_close = self._clear
        return env

    def _clear(self) -> None:
        """Tear down the job's simulation context and stage (the app stays)."""
        if self._sim is None:
            return
        import gc

        import isaaclab.sim as sim_utils

        self._sim = None
        sim_utils.SimulationContext.clear_instance()
        gc.collect()

    def close(self) -> None:
        self._clear()
        self._stack.close()


def _warp_cache():
    from arena_eval.cache import cache_root

    return cache_root() / "warp"


def _robot_roots(embodiment) -> set[str]:
    """The top-level bodies an embodiment adds to a scene."""
    import mujoco

    world = mujoco.MjSpec()
    world.compiler.degree = False
    embodiment.attach(world)
    return {b.name for b in world.worldbody.bodies}


# Object sets: every env holds every object of the set; the ones it does not use rest on small
# plates behind the robot, out of its reach (1.1 m and more from its base) and of the table.
PARK_X, PARK_ROW, PARK_PITCH = -1.1, 5, 0.3


def _table_prim(model) -> str:
    """The table's geom prim below ``Geometry`` (the table is welded onto the world body)."""
    from arena_eval.envs.isaaclab.usd import welded_geom_name

    table = model.body("table")
    return welded_geom_name("table", model.geom(int(table.geomadr[0])).name)


def _parking(k: int) -> tuple[float, float]:
    return PARK_X - PARK_PITCH * (k // PARK_ROW), PARK_PITCH * (k % PARK_ROW - 2)


def _add_parking(world, k: int) -> None:
    import mujoco

    from arena_eval.envs.mujoco.tasks.base import WORLD_CONAFFINITY, WORLD_CONTYPE

    plate = world.worldbody.add_geom(
        name=f"parking_{k}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.12, 0.12, 0.01]
    )
    plate.pos = [*_parking(k), -0.01]
    plate.contype, plate.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY


def _park(asset, env_ids: np.ndarray, pos: tuple, origins: np.ndarray, device: str) -> None:
    """Put an object's copies in ``env_ids`` (the envs of other objects) at rest on its plate."""
    import torch

    if not env_ids.size:
        return
    pose = np.zeros((env_ids.size, 7))
    pose[:, :3] = origins[env_ids] + np.asarray(pos) + [0.0, 0.0, 1e-3]
    pose[:, 6] = 1.0  # (x, y, z, w)
    ids = torch.as_tensor(env_ids, dtype=torch.long, device=device)
    asset.write_root_pose_to_sim_index(
        root_pose=torch.as_tensor(pose, dtype=torch.float32, device=device), env_ids=ids
    )
    asset.write_root_velocity_to_sim_index(
        root_velocity=torch.zeros((env_ids.size, 6), device=device), env_ids=ids
    )


def _free_joint(model, body_name: str) -> str:
    body = model.body(body_name).id
    for j in range(model.njnt):
        if model.jnt_bodyid[j] == body and model.jnt_type[j] == 0:  # mjJNT_FREE
            return model.joint(j).name
    raise ValueError(f"body {body_name!r} has no free joint")


def _in_subtree(model, body: int, root: int) -> bool:
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return False
