"""Per-episode variations: validation, reproducible draws, and their effect in the simulator."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena_eval.app import SimApp
from arena_eval.config import ConfigError, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.variations import VARIATIONS, Variations, implied_selection

ALL = (
    "variations=[object_pose,object_mass,friction,lighting,camera_pose,table_color,"
    "object_color,distractors]"
)
PHYSICAL = "variations=[object_pose,object_mass,friction,distractors]"


def defaults(name: str) -> dict:
    import yaml

    from arena_eval.cli import conf_dir

    return yaml.safe_load((conf_dir() / "variations" / f"{name}.yaml").read_text())


# -- settings and draws ---------------------------------------------------------------------


def test_every_variation_has_a_shipped_config_that_validates() -> None:
    v = Variations({name: defaults(name) for name in VARIATIONS})
    assert [x.name for x in v.items] == list(VARIATIONS)
    keys = [c.key for c in v.columns()]
    assert len(keys) == len(set(keys))
    assert set(v.sample(7)) == set(keys)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"object_mass": {"scale": [3.0, 1.0]}}, "low 3 is above high 1"),
        ({"object_mass": {"scale": [0.5, 80]}}, "leaves the valid range [0.01, 50]"),
        ({"object_mass": {"scale": "heavy"}}, "must be a range [low, high]"),
        ({"friction": {"scale": [-1, 1], "distribution": "loguniform"}}, "valid range"),
        ({"object_pose": {"x": [0, 1], "y": [0, 0], "yaw": [0, 0]}}, "object_pose.x"),
        (
            {"object_pose": {"x": [0, 0], "y": [0, 0], "yaw": [0, 0], "z": [0, 1]}},
            "unknown setting",
        ),
        (
            {
                "lighting": {
                    "intensity": [0, 1],
                    "azimuth": [0, 0],
                    "elevation": [1, 1],
                    "distribution": "normal",
                }
            },
            "distribution must be one of",
        ),
        ({"table_color": {"colors": {"red": [2, 0, 0]}}}, "RGB(A) list"),
        ({"distractors": {"count": [0, 3], "objects": ["sugar_box"]}}, "only 1 objects"),
        ({"distractors": {"count": [0, 1], "objects": ["anvil"]}}, "distinct catalog objects"),
        ({"distractors": {"count": [0.5, 1], "objects": ["sugar_box"]}}, "takes integers"),
        ({"gravity": {}}, "unknown variation(s) gravity"),
    ],
)
def test_bad_settings_fail_with_a_message(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Variations(settings)
    assert message in str(err.value)


@given(
    seed=st.integers(0, 2**32 - 1),
    low=st.floats(0.01, 10),
    width=st.floats(0, 10),
)
@settings(max_examples=60, deadline=None)
def test_draws_are_reproducible_and_in_range(seed: int, low: float, width: float) -> None:
    settings_ = {
        "object_mass": {"scale": [low, low + width], "distribution": "loguniform"},
        "distractors": defaults("distractors"),
        "object_color": defaults("object_color"),
    }
    a, b = Variations(settings_).sample(seed), Variations(settings_).sample(seed)
    assert a == b
    assert low * (1 - 1e-12) <= a["object_mass.scale"] <= (low + width) * (1 + 1e-12)
    assert 0 <= a["distractors.count"] <= 3
    names = a["distractors.objects"]
    assert (names == "none") == (a["distractors.count"] == 0)
    assert a["object_color.color"] in defaults("object_color")["colors"]


def test_a_variation_draws_the_same_whatever_else_is_on() -> None:
    mass = {"object_mass": defaults("object_mass")}
    more = {**mass, "friction": defaults("friction"), "lighting": defaults("lighting")}
    for seed in range(20):
        assert (
            Variations(mass).sample(seed)["object_mass.scale"]
            == (Variations(more).sample(seed)["object_mass.scale"])
        )


def test_setting_a_range_turns_the_variation_on() -> None:
    assert implied_selection(["-m", "variations.object_mass.scale=[1,2]"]) == [
        "-m",
        "variations.object_mass.scale=[1,2]",
        "variations=[object_mass]",
    ]
    assert implied_selection(["variations=[friction]", "variations.object_mass.scale=[1,2]"]) == [
        "variations=[friction,object_mass]",
        "variations.object_mass.scale=[1,2]",
    ]
    same = ["variations=[object_mass]", "variations.object_mass.scale=[1,2]"]
    assert implied_selection(same) == same


def test_the_config_group_composes_and_overrides(make_cfg) -> None:
    job = validate(
        make_cfg("variations.object_mass.scale=[0.5,3.0]", "variations.friction.scale=[0.3,1.5]")
    )
    assert job.variations["object_mass"]["scale"] == [0.5, 3.0]
    assert job.variations["friction"]["scale"] == [0.3, 1.5]
    assert validate(make_cfg()).variations == {}


def test_backends_and_envs_refuse_what_they_cannot_apply(make_cfg) -> None:
    with pytest.raises(ConfigError, match=r"lighting cannot be applied on sim=isaaclab"):
        validate(make_cfg("sim=isaaclab", "variations=[object_pose,object_mass,lighting]"))
    # The pose, the mass and the friction apply there.
    validate(make_cfg("sim=isaaclab", "variations=[object_pose,object_mass,friction]"))
    with pytest.raises(ConfigError, match=r"env 'fridge' declares no free table region"):
        validate(make_cfg("env=fridge", "variations=[distractors]"))


def test_cli_lists_variations_and_rejects_bad_ranges(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "arena-eval"
    listed = subprocess.run(
        [exe, "--list-variations", "env=fridge", "embodiment=franka_ik"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "object_mass.scale: [0.5, 2] x (loguniform)" in listed.stdout
    assert "distractors" in listed.stdout and "[not on env=fridge]" in listed.stdout
    bad = subprocess.run(
        [exe, "variations.object_mass.scale=[3,1]", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "variations.object_mass.scale: low 3 is above high 1" in bad.stdout + bad.stderr


# -- in the simulator -----------------------------------------------------------------------


def make_env(make_cfg, *overrides: str):
    job = validate(make_cfg(*overrides))
    return job, SimApp.get(job).make_env(job)


def test_every_variation_changes_the_simulator_state(make_cfg) -> None:
    """Each drawn value is read back from the simulation itself (its per-sim model, its state,
    its rendered images), against the same episodes without variations."""
    small = (
        "enable_cameras=true",
        "cameras.names=[front]",
        "cameras.width=64",
        "cameras.height=48",
    )
    _, plain = make_env(make_cfg, "num_envs=4", *small)
    _, env = make_env(make_cfg, "num_envs=4", ALL, *small)
    try:
        plain_obs = plain.reset(EpisodeSource(0, None))
        obs = env.reset(EpisodeSource(0, None))
        group, ref = env.groups[0], plain.groups[0]
        batch, model = group.sims.batch, group.sims.model
        obj_body, obj_geom = group.task.obj_body, model.geom("object_geom").id
        table_geom = int(model.body("table").geomadr[0])
        images = obs["image_front"].reshape(4, -1).astype(float)
        for row in range(4):
            x = env.book.values[row]
            sim = batch.get_model(row)
            data = batch.get_data(row)
            # object_pose: offsets from the same episode's pose without variations
            q = group.task.obj_q
            moved = group.sims.qpos[row, q : q + 2] - ref.sims.qpos[row, q : q + 2]
            np.testing.assert_allclose(moved, [x["object_pose.x"], x["object_pose.y"]], atol=1e-9)
            np.testing.assert_allclose(data.xpos[obj_body][:2], group.sims.qpos[row, q : q + 2])
            # object_mass and friction: the simulation's own model
            assert sim.body_mass[obj_body] == pytest.approx(
                model.body_mass[obj_body] * x["object_mass.scale"]
            )
            assert sim.geom_friction[obj_geom, 0] == pytest.approx(x["friction.scale"])
            assert sim.geom_priority[obj_geom] > model.geom_priority[table_geom]
            # lighting: the light's direction in the data, its diffuse in the model
            el, az = x["lighting.elevation"], x["lighting.azimuth"]
            expect = [-math.cos(el) * math.cos(az), -math.cos(el) * math.sin(az), -math.sin(el)]
            np.testing.assert_allclose(data.light_xdir[0], expect, atol=1e-6)
            np.testing.assert_allclose(
                sim.light_diffuse[0], model.light_diffuse[0] * x["lighting.intensity"]
            )
            # camera_pose: the camera's world position moved by the drawn offset
            cam = model.camera("front").id
            shift = np.linalg.norm(data.cam_xpos[cam] - model.cam_pos[cam])
            offset = math.dist((0, 0, 0), [x[f"camera_pose.{a}"] for a in ("dx", "dy", "dz")])
            assert shift == pytest.approx(offset, abs=1e-9)
            # colours
            table = defaults("table_color")["colors"][x["table_color.color"]]
            np.testing.assert_allclose(sim.geom_rgba[table_geom], table)
            # distractors: on the table, inside the region, clear of the object and each other
            placed = [] if x["distractors.count"] == 0 else x["distractors.objects"].split("+")
            names = env.variations[0].slots
            circles = [(*data.xpos[obj_body][:2], env.variations[0].obj_radius)]
            for name, i in names.items():
                pos = data.xpos[model.body(f"distractor_{i}").id]
                if name in placed:
                    assert 0.3 <= pos[0] <= 0.75 and -0.35 <= pos[1] <= 0.35
                    circles.append((*pos[:2], env.variations[0].radius[name]))
                else:
                    assert pos[0] > 3.5  # parked, out of view
            for a in range(len(circles)):
                for b in range(a):
                    gap = math.dist(circles[a][:2], circles[b][:2])
                    assert gap >= circles[a][2] + circles[b][2]
        # the images the policy sees differ from the plain scene's
        base = plain_obs["image_front"].reshape(4, -1).astype(float)
        assert np.all(np.abs(images - base).mean(axis=1) > 1.0)
        # brighter light, brighter image (same pose draws aside, over the 4 envs)
        gains = [env.book.values[r]["lighting.intensity"] for r in range(4)]
        assert np.corrcoef(gains, images.mean(axis=1))[0, 1] > 0
        # stepping keeps distractors standing where they were put (no overlap blew them away)
        before = group.sims.qpos.copy()
        for _ in range(10):
            env.step(np.zeros((4, env.spec.action_dim)))
        for i in range(len(names)):
            qa = int(model.joint(f"distractor_{i}_joint").qposadr[0])
            assert np.abs(group.sims.qpos[:, qa : qa + 3] - before[:, qa : qa + 3]).max() < 0.01
    finally:
        env.close()
        plain.close()


def episodes(folder: Path) -> list[dict]:
    (path,) = folder.rglob("episodes.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.pop("env_id")
        row.pop("rank")
    return rows


def run_cli(tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "arena-eval"
    return subprocess.run(
        [exe, "progress=false", f"hydra.run.dir={tmp}", *overrides],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.integration
def test_same_seed_same_values_and_outcomes_with_1_3_and_6_envs(tmp_path: Path) -> None:
    job = (
        "env=lift_object",
        "policy=scripted",
        "length.n=6",
        PHYSICAL,
        "variations.object_mass.scale=[1,40]",
    )
    runs = []
    for n in (1, 3, 6):
        proc = run_cli(tmp_path / f"n{n}", *job, f"num_envs={n}")
        assert proc.returncode == 0, proc.stderr
        runs.append(episodes(tmp_path / f"n{n}"))
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 6 and "var.object_mass.scale" in runs[0][0]


@pytest.mark.integration
def test_two_torchrun_ranks_draw_and_end_like_one_process(tmp_path: Path) -> None:
    from tests.test_distributed import torchrun

    job = (
        "env=lift_object",
        "policy=scripted",
        "length.n=6",
        "num_envs=2",
        PHYSICAL,
        "variations.object_mass.scale=[1,40]",
    )
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    assert run_cli(one, *job).returncode == 0
    proc = torchrun(2, *job, cwd=two)
    assert proc.returncode == 0, proc.stderr
    assert episodes(one) == episodes(two)


@pytest.mark.integration
def test_object_mass_changes_the_experts_success(tmp_path: Path) -> None:
    """The scripted lift holds a light object and drops a heavy one: the fit finds the edge."""
    import json

    proc = run_cli(
        tmp_path,
        "env=lift_object",
        "policy=scripted",
        "length.n=32",
        "num_envs=8",
        "variations.object_mass.scale=[1,40]",
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    rows = episodes(tmp_path)
    light = [int(r["success"]) for r in rows if float(r["var.object_mass.scale"]) < 4]
    heavy = [int(r["success"]) for r in rows if float(r["var.object_mass.scale"]) > 25]
    assert light and heavy
    assert sum(light) / len(light) >= 0.9 and sum(heavy) / len(heavy) <= 0.1
    entry = results["variations"]["analysis"]["object_mass.scale"]
    fit = entry["logistic"]
    edge = fit["value_at_50pct"] if fit["fitted"] else fit["separation_threshold"]
    assert 4 < edge < 25
    assert fit["fitted"] is False or fit["slope"] < 0
    assert sum(b["n"] for b in entry["bins"]) == 32
