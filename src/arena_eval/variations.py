"""Per-episode variations: what a scene may vary, how each episode draws its values, and checks.

Backend-neutral. A variation (``conf/variations/<name>.yaml``) names its parameters and their
ranges; every episode draws its own values from its own episode seed (a stream per variation),
so the values, and with them the episodes, do not depend on ``num_envs``, on the number of ranks
or on which other variations are on. The backends apply the values at reset
(``envs/mujoco/variations.py``; Isaac Lab applies the object pose through the shared task
state) and refuse a variation they cannot apply. Each drawn value becomes a column of
episodes.csv (``var.<variation>.<parameter>``); ``analysis.py`` fits success against them.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from arena_eval.config import ConfigError

NUMERIC, CATEGORICAL = "numeric", "categorical"
DISTRIBUTIONS = ("uniform", "loguniform")
COLUMN_PREFIX = "var."
# Keeps the variations' draws apart from the task's own reset draw of the same episode seed.
_STREAM = 0x7A41


@dataclass(frozen=True)
class Column:
    """One recorded value of a variation: episodes.csv column ``var.<variation>.<name>``."""

    variation: str
    name: str
    kind: str  # numeric | categorical
    unit: str = ""
    multi: bool = False  # categorical: a "+"-joined set; analysed per member it contains

    @property
    def key(self) -> str:
        return f"{self.variation}.{self.name}"

    @property
    def csv(self) -> str:
        return COLUMN_PREFIX + self.key


@dataclass(frozen=True)
class Param:
    """A numeric parameter: its range must lie within ``bounds``."""

    name: str
    bounds: tuple[float, float]
    unit: str = ""
    integer: bool = False


class Variation:
    """One kind of variation. Subclasses declare their parameters and how a value is drawn."""

    name: ClassVar[str] = ""
    effect: ClassVar[str] = "physics"  # physics | image | scene
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    extra_keys: ClassVar[tuple[str, ...]] = ()  # non-range settings this variation accepts
    default_distribution: ClassVar[str] = "uniform"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.errors: list[str] = []
        known = {"distribution", *(p.name for p in self.params), *self.extra_keys}
        unknown = sorted(set(self.settings) - known)
        if unknown:
            self.errors.append(
                f"variations.{self.name}: unknown setting(s) {', '.join(unknown)}; "
                f"valid settings: {', '.join(sorted(known))}"
            )
        self.distribution = str(self.settings.get("distribution", self.default_distribution))
        if self.params and self.distribution not in DISTRIBUTIONS:
            self.errors.append(
                f"variations.{self.name}.distribution must be one of "
                f"{', '.join(DISTRIBUTIONS)}, got {self.distribution!r}"
            )
        self.ranges: dict[str, tuple[float, float]] = {}
        for p in self.params:
            self.ranges[p.name] = self._range(p)

    def _range(self, p: Param) -> tuple[float, float]:
        where = f"variations.{self.name}.{p.name}"
        value = self.settings.get(p.name)
        lo, hi = p.bounds
        if (
            not isinstance(value, Sequence)
            or isinstance(value, str)
            or len(value) != 2
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)
        ):
            self.errors.append(f"{where} must be a range [low, high] of numbers, got {value!r}")
            return lo, hi
        low, high = float(value[0]), float(value[1])
        if low > high:
            self.errors.append(f"{where}: low {low:g} is above high {high:g}")
        elif low < lo or high > hi:
            self.errors.append(
                f"{where}: [{low:g}, {high:g}] leaves the valid range [{lo:g}, {hi:g}]"
            )
        elif p.integer and not (low.is_integer() and high.is_integer()):
            self.errors.append(f"{where}: a count range takes integers, got [{low:g}, {high:g}]")
        elif self.distribution == "loguniform" and low <= 0:
            self.errors.append(f"{where}: a loguniform range must be positive, got low {low:g}")
        return low, high

    def columns(self) -> list[Column]:
        return [Column(self.name, p.name, NUMERIC, p.unit) for p in self.params]

    def draw(self, rng: np.random.Generator, p: Param) -> float:
        low, high = self.ranges[p.name]
        if p.integer:
            return int(rng.integers(int(low), int(high) + 1))
        if self.distribution == "loguniform":
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return float(rng.uniform(low, high))

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One episode's values, by column name (without the variation's prefix)."""
        return {p.name: self.draw(rng, p) for p in self.params}

    def describe(self) -> dict[str, Any]:
        """What ``--list-variations`` and results.json show of this variation."""
        out: dict[str, Any] = {"effect": self.effect, "summary": self.summary}
        if self.params:
            out["distribution"] = self.distribution
            out["ranges"] = {k: list(v) for k, v in self.ranges.items()}
            out["units"] = {p.name: p.unit for p in self.params if p.unit}
        return out


class ObjectPose(Variation):
    name = "object_pose"
    summary = "offset of the task object's start pose from where the task places it"
    params = (
        Param("x", (-0.15, 0.15), "m"),
        Param("y", (-0.15, 0.15), "m"),
        Param("yaw", (-math.pi, math.pi), "rad"),
    )


class ObjectMass(Variation):
    name = "object_mass"
    summary = "the task object's mass and inertia, as a multiple of its catalog mass"
    params = (Param("scale", (0.01, 50.0), "x"),)
    default_distribution = "loguniform"


class Friction(Variation):
    name = "friction"
    summary = "the task object's friction coefficient (its contacts take it), times 1.0"
    params = (Param("scale", (0.01, 10.0), "x"),)


class Lighting(Variation):
    name = "lighting"
    effect = "image"
    summary = "the scene light's intensity and direction"
    params = (
        Param("intensity", (0.0, 3.0), "x"),
        Param("azimuth", (-math.pi, math.pi), "rad"),
        Param("elevation", (0.05, 1.5708), "rad"),
    )


class CameraPose(Variation):
    name = "camera_pose"
    effect = "image"
    summary = "jitter of every rendered camera: position per axis and a rotation vector"
    params = (Param("position", (-0.2, 0.2), "m"), Param("rotation", (-0.5, 0.5), "rad"))
    _AXES = ("dx", "dy", "dz", "rx", "ry", "rz")

    def columns(self) -> list[Column]:
        units = ("m",) * 3 + ("rad",) * 3
        return [Column(self.name, a, NUMERIC, u) for a, u in zip(self._AXES, units, strict=True)]

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        pos, rot = self.params
        values = [self.draw(rng, pos) for _ in range(3)] + [self.draw(rng, rot) for _ in range(3)]
        return dict(zip(self._AXES, values, strict=True))


class _Colors(Variation):
    effect = "image"
    extra_keys = ("colors",)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        colors = self.settings.get("colors")
        self.colors: dict[str, tuple[float, ...] | None] = {}
        if not isinstance(colors, Mapping) or not colors:
            self.errors.append(
                f"variations.{self.name}.colors must map colour names to RGBA lists, got {colors!r}"
            )
            return
        for label, rgba in colors.items():
            if rgba is None and self.allow_original:
                self.colors[str(label)] = None
                continue
            ok = (
                isinstance(rgba, Sequence)
                and len(rgba) in (3, 4)
                and all(isinstance(v, int | float) and 0 <= v <= 1 for v in rgba)
            )
            if not ok:
                self.errors.append(
                    f"variations.{self.name}.colors.{label}: an RGB(A) list of numbers in "
                    f"[0, 1], got {rgba!r}"
                )
                continue
            self.colors[str(label)] = (*map(float, rgba), *((1.0,) if len(rgba) == 3 else ()))

    allow_original: ClassVar[bool] = False

    def columns(self) -> list[Column]:
        return [Column(self.name, "color", CATEGORICAL)]

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        names = list(self.colors)
        return {"color": names[int(rng.integers(len(names)))]}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "categories": list(self.colors)}


class TableColor(_Colors):
    name = "table_color"
    summary = "the table's colour, one of a named palette"


class ObjectColor(_Colors):
    name = "object_color"
    summary = "the task object's colour: its own (original) or one of a named palette"
    allow_original = True


class Distractors(Variation):
    name = "distractors"
    effect = "scene"
    summary = "catalog objects placed on the table without overlap"
    params = (Param("count", (0, 8), "", integer=True),)
    extra_keys = ("objects", "min_gap")

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        from arena_eval.envs.mujoco.objects import OBJECTS

        objects = self.settings.get("objects") or []
        if isinstance(objects, str):
            objects = [o.strip() for o in objects.split(",") if o.strip()]
        unknown = [o for o in objects if o not in OBJECTS]
        if unknown or not objects or len(set(objects)) != len(objects):
            self.errors.append(
                f"variations.distractors.objects must be distinct catalog objects, got "
                f"{list(objects)!r}; valid objects: {', '.join(sorted(OBJECTS))}"
            )
        self.objects = tuple(str(o) for o in objects)
        if self.ranges["count"][1] > len(self.objects) and self.objects:
            self.errors.append(
                f"variations.distractors.count: up to {self.ranges['count'][1]:g} distractors "
                f"but only {len(self.objects)} objects to draw them from"
            )
        gap = self.settings.get("min_gap", 0.02)
        if not isinstance(gap, int | float) or not 0 <= gap <= 0.2:
            self.errors.append(f"variations.distractors.min_gap must be in [0, 0.2] m, got {gap!r}")
            gap = 0.02
        self.min_gap = float(gap)

    def columns(self) -> list[Column]:
        return [
            Column(self.name, "count", NUMERIC),
            Column(self.name, "objects", CATEGORICAL, multi=True),
        ]

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        count = self.draw(rng, self.params[0])
        chosen = sorted(rng.choice(len(self.objects), size=count, replace=False).tolist())
        names = [self.objects[i] for i in chosen]
        return {"count": count, "objects": "+".join(names) or "none"}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "objects": list(self.objects), "min_gap": self.min_gap}


VARIATIONS: dict[str, type[Variation]] = {
    v.name: v
    for v in (
        ObjectPose,
        ObjectMass,
        Friction,
        Lighting,
        CameraPose,
        TableColor,
        ObjectColor,
        Distractors,
    )
}
# What each backend can apply. Isaac Lab applies the object pose through the task state that
# both backends share, the object's mass and friction through its asset API into Newton's
# model, and the colours through Newton's shape colours (envs/isaaclab/variations.py).
BACKEND_SUPPORT: dict[str, frozenset[str]] = {
    "mujoco": frozenset(VARIATIONS),
    "isaaclab": frozenset(
        {"object_pose", "object_mass", "friction", "object_color", "table_color", "camera_pose"}
    ),
}


def stream_seed(episode_seed: int, name: str) -> list[int]:
    """The seed words of one variation's draw for one episode (crc32: stable across runs)."""
    return [int(episode_seed), _STREAM, zlib.crc32(name.encode())]


class Variations:
    """The job's enabled variations, in a fixed order; draws one episode's values."""

    def __init__(self, settings: Mapping[str, Any] | None) -> None:
        settings = dict(settings or {})
        errors = []
        unknown = sorted(set(settings) - set(VARIATIONS))
        if unknown:
            errors.append(
                f"unknown variation(s) {', '.join(unknown)}; "
                f"valid variations: {', '.join(VARIATIONS)}"
            )
        self.items: list[Variation] = []
        for name in VARIATIONS:  # a fixed order: columns do not depend on the override order
            if name in settings:
                body = settings[name]
                if body is not None and not isinstance(body, Mapping):
                    errors.append(f"variations.{name} must be a mapping of settings, got {body!r}")
                    continue
                v = VARIATIONS[name](body or {})
                errors += v.errors
                self.items.append(v)
        if errors:
            raise ConfigError("invalid variations:\n  - " + "\n  - ".join(errors))
        self.by_name = {v.name: v for v in self.items}

    def __bool__(self) -> bool:
        return bool(self.items)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Variation:
        return self.by_name[name]

    def columns(self) -> list[Column]:
        return [c for v in self.items for c in v.columns()]

    def sample(self, episode_seed: int) -> dict[str, Any]:
        """Every enabled variation's values for one episode: ``{"object_mass.scale": 1.3}``."""
        out: dict[str, Any] = {}
        for v in self.items:
            rng = np.random.default_rng(stream_seed(episode_seed, v.name))
            out.update({f"{v.name}.{k}": val for k, val in v.sample(rng).items()})
        return out

    def check_backend(self, backend: str, task: str, distractor_envs: Sequence[str]) -> None:
        if task == "isaaclab_task" and self.items:
            raise ConfigError(
                "env=isaaclab_task runs a registered Isaac Lab task with its own randomisation "
                "(its event terms): variations apply to arena-eval's own envs"
            )
        supported = BACKEND_SUPPORT.get(backend, frozenset())
        missing = [v.name for v in self.items if v.name not in supported]
        if missing:
            raise ConfigError(
                f"variation(s) {', '.join(missing)} cannot be applied on sim={backend}; it "
                f"applies: {', '.join(sorted(supported)) or 'none'}"
            )
        if "distractors" in self and task not in distractor_envs:
            raise ConfigError(
                f"variations.distractors: env {task!r} declares no free table region for "
                f"distractors (envs that do: {', '.join(distractor_envs) or 'none'})"
            )

    def describe(self) -> dict[str, Any]:
        return {v.name: {**v.describe(), "settings": v.settings} for v in self.items}

    def image_only(self) -> list[str]:
        return [v.name for v in self.items if v.effect == "image"]


def apply_object_pose(task_state, rows, values: Sequence[Mapping[str, Any]]) -> None:
    """The ``object_pose`` offsets of each row's episode, on any backend's task state."""
    dxy = np.array([[x["object_pose.x"], x["object_pose.y"]] for x in values])
    task_state.shift_object(rows, dxy, np.array([x["object_pose.yaw"] for x in values]))


def jitter_camera(
    base_pos: np.ndarray, base_quat: np.ndarray, values: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """``camera_pose`` on any backend: a camera's pose (``base_pos`` [3] or [n, 3], ``base_quat``
    [n, 4], w-x-y-z, in its parent's frame) moved by each row's drawn offset and turn, both in
    the camera's own frame. Returns the rows' positions and quaternions."""
    from arena_eval.geometry import quat_from_rotvec, quat_mul, quat_rotate

    d = np.array([[x[f"camera_pose.{a}"] for a in ("dx", "dy", "dz")] for x in values])
    r = np.array([[x[f"camera_pose.{a}"] for a in ("rx", "ry", "rz")] for x in values])
    turn = quat_from_rotvec(r)  # [n, 4], in each camera's own frame
    return base_pos + quat_rotate(base_quat, d), quat_mul(base_quat, turn)


def implied_selection(overrides: Sequence[str]) -> list[str]:
    """``variations.<name>.<key>=...`` turns ``<name>`` on: add it to ``variations=[...]``.

    Setting a variation's range without naming it in the list means "vary this"; Hydra would
    otherwise refuse the key, since only selected variations exist in the config.
    """
    named: list[str] = []
    selection_at, selection = None, []
    for i, o in enumerate(overrides):
        key, sep, value = o.partition("=")
        if not sep:
            continue
        bare = key.lstrip("+~")
        if bare == "variations":
            selection_at = i
            inner = value.strip().strip("[]")
            selection = [s.strip() for s in inner.split(",") if s.strip()]
        elif bare.startswith("variations.") and not key.startswith(("+", "~")):
            parts = bare.split(".")
            if len(parts) >= 3 and parts[1] not in named:
                named.append(parts[1])
    extra = [n for n in named if n not in selection]
    if not extra:
        return list(overrides)
    out = list(overrides)
    merged = f"variations=[{','.join([*selection, *extra])}]"
    if selection_at is None:  # last: flags such as -m stay first; Hydra applies group
        out.append(merged)  # selections before values, whatever their order
    else:
        out[selection_at] = merged
    return out


def listing(backend: str, task: str, distractor_envs: Sequence[str], available: Mapping) -> str:
    """``--list-variations``: every variation, its defaults, and whether this env applies it."""
    lines = [f"variations for env={task} on sim={backend} (select with variations=[a,b,...]):"]
    supported = BACKEND_SUPPORT.get(backend, frozenset())
    for name, cls in VARIATIONS.items():
        v = cls(available.get(name) or {})
        ok = name in supported and (name != "distractors" or task in distractor_envs)
        why = (
            ""
            if ok
            else (
                f"  [not on sim={backend}]" if name not in supported else f"  [not on env={task}]"
            )
        )
        lines.append(f"  {name:<13} {v.effect:<8} {v.summary}{why}")
        d = v.describe()
        for param, (lo, hi) in d.get("ranges", {}).items():
            unit = d.get("units", {}).get(param, "")
            lines.append(
                f"      {name}.{param}: [{lo:g}, {hi:g}] "
                + f"{unit} " * bool(unit)
                + f"({d['distribution']})"
            )
        if "categories" in d:
            lines.append(f"      {name}.colors: {', '.join(d['categories'])}")
        if "objects" in d:
            lines.append(
                f"      {name}.objects: {', '.join(d['objects'])}; min_gap {d['min_gap']} m"
            )
    return "\n".join(lines)
