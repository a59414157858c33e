"""Typed config schemas (registered in Hydra's ConfigStore) and validation into a JobSpec.

Validation happens before any simulator or torch import, so a bad value fails fast with a
message that says what was wrong and what is valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

LENGTH_KINDS = ("steps", "episodes")
BACKENDS = ("mujoco", "isaaclab")
CAMERA_QUALITIES = ("fast", "high")


class ConfigError(ValueError):
    """The composed config is invalid; the message is meant for the person who wrote it."""


@dataclass
class EnvConfig:
    name: str = MISSING
    control_hz: float = 50.0
    physics_hz: float = 500.0
    # The task's own settings; for env=isaaclab_task, a registered Isaac Lab task's gym id.
    task: Any = field(default_factory=dict)


@dataclass
class EmbodimentConfig:
    name: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObjectConfig:
    name: str = MISSING


@dataclass
class LengthConfig:
    kind: str = "episodes"
    n: int = 20
    fixed: bool = False  # true: this length wins over a policy's own length


@dataclass
class SimConfig:
    backend: str = "mujoco"
    nthread: int = 0  # 0: every available core
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DistributedConfig:
    enabled: bool = False
    backend: str = "auto"  # nccl on CUDA, gloo on CPU


@dataclass
class CamerasConfig:
    """Camera observations (enable_cameras=true) and per-episode videos (record_video=true)."""

    names: list[str] | None = None  # null: front, plus the embodiment's wrist camera
    width: int = 224
    height: int = 224
    quality: str = "fast"  # fast: no shadows, reflections or antialiasing; high: MuJoCo's own
    video_dir: str = "videos"  # relative to the job's folder
    video_envs: list[int] | None = None  # env ids whose episodes are recorded; null: every env


@dataclass
class DatasetConfig:
    """record_dataset=true: the job's episodes as a LeRobotDataset (arena_eval/recording.py)."""

    dir: str = "dataset"  # relative to the job's folder
    repo_id: str | None = None  # null: arena-eval/<env>_<embodiment> (a label: never pushed)
    only_success: bool = True  # false: every finished episode, with its success flag
    state_keys: list[str] | None = None  # null: every non-image observation, in the env's order
    env_state_keys: list[str] | None = None  # observation.environment_state, if any
    video: bool = True  # cameras as mp4 videos (else as images)
    task: str | None = None  # null: language_instruction, else the env's name


@dataclass
class JobConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    embodiment: EmbodimentConfig = field(default_factory=EmbodimentConfig)
    object: ObjectConfig = field(default_factory=ObjectConfig)
    policy: dict[str, Any] = field(default_factory=dict)
    length: LengthConfig = field(default_factory=LengthConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    distributed: Any = False
    name: str = "default"
    num_envs: int = 8
    seed: int = 0
    device: str = "auto"
    enable_cameras: bool = False
    record_video: bool = False  # one mp4 per episode; implies enable_cameras
    cameras: CamerasConfig = field(default_factory=CamerasConfig)
    record_dataset: bool = False  # the episodes as a LeRobotDataset; needs .venv-lerobot
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    object_set: list[str] | None = None
    object_set_random: bool = False
    # Per-episode randomisation: variation name -> its settings (conf/variations/, variations.py).
    variations: dict[str, Any] = field(default_factory=dict)
    language_instruction: str | None = None
    num_rebuilds: int = 1  # split the run over this many env rebuilds (the reference's key)
    fail_fast: bool = False
    resume: bool = False
    progress: bool = True
    output_dir: str | None = None


@dataclass
class ServerJobConfig(JobConfig):
    """arena-eval-server's root: a job (what to serve) plus the server's own settings."""

    server: dict[str, Any] = field(default_factory=dict)


def register_configs() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="job_schema", node=JobConfig)
    ConfigStore.instance().store(name="server_schema", node=ServerJobConfig)


@dataclass(frozen=True)
class CameraSpec:
    """Validated camera settings. ``names`` None: the embodiment's default cameras."""

    names: tuple[str, ...] | None = None
    width: int = 224
    height: int = 224
    quality: str = "fast"
    video_dir: str = "videos"
    video_envs: tuple[int, ...] | None = None


@dataclass(frozen=True)
class JobSpec:
    """A validated job: plain Python values, everything a backend needs to build the env."""

    task: str
    task_params: dict[str, Any]
    control_hz: float
    physics_hz: float
    embodiment: str
    embodiment_params: dict[str, Any]
    objects: tuple[str, ...]  # one per env
    num_envs: int
    seed: int
    length_kind: str
    length_n: int
    length_fixed: bool
    backend: str
    nthread: int
    sim_params: dict[str, Any]
    device: str
    enable_cameras: bool
    policy: dict[str, Any]
    name: str = "default"
    language_instruction: str | None = None
    distributed: bool = False
    progress: bool = True
    record_video: bool = False
    cameras: CameraSpec = CameraSpec()
    num_rebuilds: int = 1
    record_dataset: bool = False
    dataset: dict[str, Any] = field(default_factory=dict)
    variations: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> JobSpec:
        return dataclasses.replace(self, **changes)


def build_config(cls: type, params: Mapping[str, Any], where: str) -> Any:
    """Build ``cls.Config`` from ``params``, rejecting unknown keys with the valid ones listed."""
    config_cls = getattr(cls, "Config", None)
    if config_cls is None or not dataclasses.is_dataclass(config_cls):
        return dict(params)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; "
            f"valid settings: {', '.join(sorted(fields)) or '(none)'}"
        )
    try:
        return config_cls(**params)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def _plain(node: Any) -> Any:
    if isinstance(node, DictConfig) or OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def assign_objects(names: list[str], num_envs: int, random: bool, seed: int) -> tuple[str, ...]:
    """Env i gets object i mod n, or a seeded random choice per env."""
    if not names:
        raise ConfigError("object_set is empty: give at least one object name")
    if random:
        import numpy as np

        rng = np.random.default_rng([seed, 0x0B1EC7])
        return tuple(names[int(i)] for i in rng.integers(0, len(names), size=num_envs))
    return tuple(names[i % len(names)] for i in range(num_envs))


def validate(cfg: Any) -> JobSpec:
    """Check a composed config and turn it into a JobSpec, or raise ConfigError."""
    from arena_eval.envs.catalog import check_names

    c = _plain(cfg)
    errors: list[str] = []
    num_envs = c.get("num_envs")
    if not isinstance(num_envs, int) or num_envs < 1:
        errors.append(f"num_envs must be a positive integer, got {num_envs!r}")
        num_envs = 1
    length = c.get("length") or {}
    kind, n = length.get("kind"), length.get("n")
    if kind not in LENGTH_KINDS:
        errors.append(f"length.kind must be one of {', '.join(LENGTH_KINDS)}, got {kind!r}")
    if not isinstance(n, int) or n < 1:
        errors.append(f"length.n must be a positive integer, got {n!r}")
    rebuilds = c.get("num_rebuilds", 1)
    if not isinstance(rebuilds, int) or rebuilds < 1:
        errors.append(f"num_rebuilds must be a positive integer, got {rebuilds!r}")
        rebuilds = 1
    elif isinstance(n, int) and n < rebuilds:
        errors.append(
            f"num_rebuilds={rebuilds} splits length.n={n} {kind} over {rebuilds} env builds: "
            f"length.n must be at least num_rebuilds"
        )
    sim = c.get("sim") or {}
    backend = sim.get("backend")
    if backend not in BACKENDS:
        errors.append(f"sim.backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    env = c.get("env") or {}
    control_hz, physics_hz = env.get("control_hz"), env.get("physics_hz")
    if not (isinstance(control_hz, int | float) and control_hz > 0):
        errors.append(f"env.control_hz must be positive, got {control_hz!r}")
    elif not (isinstance(physics_hz, int | float) and physics_hz >= control_hz):
        errors.append(
            f"env.physics_hz must be >= env.control_hz ({control_hz}), got {physics_hz!r}"
        )
    object_set = c.get("object_set")
    if object_set:
        if isinstance(object_set, str):
            object_set = [s.strip() for s in object_set.split(",") if s.strip()]
        names = [str(o) for o in object_set]
    else:
        names = [str((c.get("object") or {}).get("name"))]
    policy = c.get("policy") or {}
    if not (policy.get("name") or policy.get("_target_")):
        errors.append("policy needs a name: pick one with policy=<name> (e.g. policy=scripted)")
    cameras, camera_errors = _cameras(c.get("cameras") or {}, num_envs)
    errors += camera_errors
    if c.get("record_dataset"):
        from arena_eval.recording import check_dataset_config

        errors += check_dataset_config(c.get("dataset") or {}, c.get("distributed"))
    errors += check_names(backend, env.get("name"), (c.get("embodiment") or {}).get("name"), names)
    variations = c.get("variations") or {}
    if variations and not errors:
        errors += _check_variations(variations, backend, env.get("name"))
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors))
    objects = assign_objects(names, num_envs, bool(c.get("object_set_random")), int(c["seed"]))
    distributed = c.get("distributed")
    if isinstance(distributed, dict):
        distributed = bool(distributed.get("enabled"))
    return JobSpec(
        task=env["name"],
        # env=isaaclab_task names a registered Isaac Lab task: env.task=<gym id>.
        task_params=(
            {"id": env["task"]} if isinstance(env.get("task"), str) else dict(env.get("task") or {})
        ),
        control_hz=float(control_hz),
        physics_hz=float(physics_hz),
        embodiment=c["embodiment"]["name"],
        embodiment_params=dict(c["embodiment"].get("params") or {}),
        objects=objects,
        num_envs=num_envs,
        seed=int(c["seed"]),
        length_kind=kind,
        length_n=n,
        length_fixed=bool(length.get("fixed", False)),
        backend=backend,
        nthread=int(sim.get("nthread", 0)),
        sim_params=dict(sim.get("params") or {}),
        device=str(c.get("device", "auto")),
        # Recording needs the images: record_video turns cameras on.
        enable_cameras=bool(c.get("enable_cameras")) or bool(c.get("record_video")),
        policy=dict(policy),
        name=str(c.get("name", "default")),
        language_instruction=c.get("language_instruction"),
        distributed=bool(distributed),
        progress=bool(c.get("progress", True)),
        record_video=bool(c.get("record_video")),
        cameras=cameras,
        num_rebuilds=rebuilds,
        record_dataset=bool(c.get("record_dataset")),
        dataset=dict(c.get("dataset") or {}),
        variations=dict(variations),
    )


def _check_variations(settings: dict[str, Any], backend: str, task: str) -> list[str]:
    """The variations' ranges, and whether this backend and env can apply them."""
    from arena_eval.variations import Variations

    try:
        Variations(settings).check_backend(backend, task, distractor_envs())
    except ConfigError as err:
        return [str(err).removeprefix("invalid variations:\n  - ")]
    return []


def distractor_envs() -> list[str]:
    """The envs whose task declares a free table region for distractors."""
    from arena_eval.envs.mujoco.tasks import TASKS, task_class

    return [t for t in TASKS if task_class(t).distractor_region is not None]


def _cameras(c: dict[str, Any], num_envs: int) -> tuple[CameraSpec, list[str]]:
    errors = []
    names = c.get("names")
    if isinstance(names, str):
        names = [s.strip() for s in names.split(",") if s.strip()]
    if names is not None and (not names or len(set(names)) != len(names)):
        errors.append(f"cameras.names must be distinct camera names, got {names!r}")
    size = {}
    for key in ("width", "height"):
        value = c.get(key, 224)
        if not isinstance(value, int) or not 16 <= value <= 4096:
            errors.append(f"cameras.{key} must be an integer in 16..4096, got {value!r}")
            value = 224
        size[key] = value
    quality = c.get("quality", "fast")
    if quality not in CAMERA_QUALITIES:
        errors.append(
            f"cameras.quality must be one of {', '.join(CAMERA_QUALITIES)}, got {quality!r}"
        )
    video_envs = c.get("video_envs")
    if video_envs is not None:
        bad = [e for e in video_envs if not isinstance(e, int) or not 0 <= e < num_envs]
        if bad:
            errors.append(f"cameras.video_envs: env ids must be in 0..{num_envs - 1}, got {bad}")
        video_envs = tuple(int(e) for e in video_envs if e not in bad)
    spec = CameraSpec(
        names=tuple(str(n) for n in names) if names else None,
        width=size["width"],
        height=size["height"],
        quality=str(quality),
        video_dir=str(c.get("video_dir") or "videos"),
        video_envs=video_envs,
    )
    return spec, errors


def length_from(
    num_steps: int | None = None,
    num_episodes: int | None = None,
    default: tuple[str, int] | None = None,
    where: str = "job",
) -> tuple[str, int]:
    """A run length from the reference's two keys: exactly one of them, else ``default``."""
    if num_steps is not None and num_episodes is not None:
        raise ConfigError(
            f"{where}: give either num_steps or num_episodes, not both "
            f"(got num_steps={num_steps}, num_episodes={num_episodes})"
        )
    if num_steps is not None:
        return "steps", int(num_steps)
    if num_episodes is not None:
        return "episodes", int(num_episodes)
    if default is None:
        raise ConfigError(f"{where}: no run length: set num_steps or num_episodes")
    return default


def compose(
    overrides: list[str] | None = None,
    config_name: str = "config",
    return_hydra_config: bool = False,
) -> DictConfig:
    """Compose a config from conf/ with Hydra's compose API (scripts, tests, notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from arena_eval.cli import conf_dir
    from arena_eval.variations import implied_selection

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose(
            config_name=config_name,
            overrides=implied_selection(list(overrides or [])),
            return_hydra_config=return_hydra_config,
        )
