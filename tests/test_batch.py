"""The reference's JSON jobs file: translation, length precedence, per-job errors, a real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena_eval.batch import load_jobs, translate_job
from arena_eval.config import ConfigError, compose, validate
from tests.test_sweep import arena, assert_same_as_single_runs, results

EXAMPLE = Path(__file__).parents[1] / "examples" / "eval_jobs.json"


def job(**changes):
    base = {
        "name": "j",
        "arena_env_args": {
            "environment": "lift_object",
            "embodiment": "franka",
            "object": "sugar_box",
            "num_envs": 3,
        },
        "policy_type": "zero_action",
        "policy_config_dict": {},
    }
    base.update(changes)
    return base


def test_translation_composes_the_same_job_as_the_cli() -> None:
    translated = translate_job(job(num_episodes=7), None)
    assert translated.overrides == [
        "env=lift_object",
        "embodiment=franka_ik",
        "object=sugar_box",
        "num_envs=3",
        "length=episodes",
        "length.n=7",
        "length.fixed=true",
    ]
    spec = validate(compose(translated.overrides))
    cli = validate(
        compose(
            [
                "env=lift_object",
                "embodiment=franka_ik",
                "object=sugar_box",
                "num_envs=3",
                "length.n=7",
            ]
        )
    )
    assert spec.replace(length_fixed=False) == cli


def test_length_precedence() -> None:
    assert "length.n=9" in translate_job(job(num_steps=9), ("episodes", 5)).overrides
    default = translate_job(job(), ("steps", 100)).overrides
    assert "length=steps" in default and "length.n=100" in default
    assert "length.fixed=true" not in default  # a policy's own length may still win
    assert not any(o.startswith("length") for o in translate_job(job(), None).overrides)
    with pytest.raises(ConfigError, match="job 'j': give either num_steps or num_episodes"):
        translate_job(job(num_steps=1, num_episodes=2), None)


def test_object_set_aliases_and_notes() -> None:
    args = {
        "environment": "microwave",
        "object_set": ["sugar_box", "power_drill"],
        "headless": True,
    }
    translated = translate_job(job(arena_env_args=args), None)
    assert "env=open_microwave" in translated.overrides
    assert "object_set=[sugar_box,power_drill]" in translated.overrides
    assert translated.notes == ["arena_env_args 'headless' has no effect here"]


@pytest.mark.parametrize(
    ("environment", "env"),
    [("gr1_open_microwave", "open_microwave"), ("gr1_sequential_static_manipulation", "fridge")],
)
def test_gr1_envs_run_on_the_gr1_embodiment(environment: str, env: str) -> None:
    args = {"environment": environment, "object": "ranch_dressing_hope_robolab"}
    overrides = translate_job(job(arena_env_args=args), None).overrides
    assert overrides[:2] == [f"env={env}", "embodiment=gr1_joint"]
    spec = validate(compose(overrides))
    assert (spec.task, spec.embodiment, spec.objects[0]) == (
        env,
        "gr1_joint",
        "ranch_dressing_bottle",
    )


def test_cameras_stay_with_the_job_that_asks(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    cam = job(arena_env_args={"environment": "lift_object", "enable_cameras": True})
    path.write_text(json.dumps({"jobs": [job(), cam]}))
    plain, with_cameras = load_jobs(path, None)
    assert "enable_cameras=true" not in plain.overrides
    assert "enable_cameras=true" in with_cameras.overrides


@pytest.mark.parametrize("bad", [{"jobs": []}, [1, 2], {"jobs": "x"}])
def test_malformed_files_are_refused(tmp_path: Path, bad) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="expected"):
        load_jobs(path, None)


@pytest.mark.integration
def test_reference_example_runs(tmp_path: Path) -> None:
    proc = arena(
        "--eval_jobs_config", str(EXAMPLE), "progress=false", cwd=tmp_path, tool="arena-eval-batch"
    )
    assert proc.returncode == 1, proc.stderr
    (folder,) = (tmp_path / "outputs" / "batch" / "batches").iterdir()
    first, second, microwave, fridge = results(folder)
    assert first["status"] == "completed" and first["metrics"]["num_episodes"] == 8
    assert second["status"] == "failed"
    assert "runs the GR00T model inside the reference's process" in second["error"]
    assert "Gr00tRemoteClosedloopPolicy" in second["error"]
    # The reference's GR1 jobs (gr1_joint) with the scripted expert, planning through the IK.
    for gr1 in (microwave, fridge):
        assert gr1["status"] == "completed" and gr1["job"]["embodiment"] == "gr1_joint"
        assert gr1["metrics"]["num_episodes"] == 10 and gr1["metrics"]["success_rate"] >= 0.9
    assert fridge["metrics"]["subtask_success_rate"]["close"] >= 0.9
    assert (folder / "summary.csv").is_file()


@pytest.mark.integration
def test_batch_is_one_process_with_per_job_errors(tmp_path: Path, make_cfg) -> None:
    jobs = [
        job(
            name=f"j{i}",
            num_episodes=2,
            arena_env_args={
                "environment": env,
                "embodiment": "franka",
                "object": obj,
                "num_envs": 2,
            },
        )
        for i, (env, obj) in enumerate(
            [
                ("lift_object", "sugar_box"),
                ("open_microwave", "sugar_box"),
                ("lift_object", "power_drill"),
                ("kitchen_sink", "sugar_box"),
                ("open_microwave", "power_drill"),
                ("lift_object", "nope"),
            ]
        )
    ]
    for j in jobs:
        j["policy_type"] = "scripted"
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"jobs": jobs}))
    proc = arena(
        "--eval_jobs_config", str(path), "progress=false", cwd=tmp_path, tool="arena-eval-batch"
    )
    assert proc.returncode == 1
    (folder,) = (tmp_path / "outputs" / "batch" / "batches").iterdir()
    out = results(folder)
    assert [r["status"] for r in out] == [
        "completed",
        "completed",
        "completed",
        "failed",
        "completed",
        "failed",
    ]
    assert "Available options in 'env'" in out[3]["error"] and "lift_object" in out[3]["error"]
    assert "Available options in 'object'" in out[5]["error"]
    ran = [r for r in out if r["status"] == "completed"]
    assert len({r["app"]["pid"] for r in ran}) == 1
    assert_same_as_single_runs(ran, make_cfg, tmp_path)


def test_the_reference_remote_gr00t_job_becomes_policy_gr00t(tmp_path: Path) -> None:
    """Its config YAML's fields that apply are read; the rest is reported, not dropped."""
    config = tmp_path / "gr00t.yaml"
    config.write_text(
        "model_path: /models/gr1\naction_horizon: 16\naction_chunk_length: 8\n"
        "target_image_size: [224, 224, 3]\nlanguage_instruction: open the microwave\n"
        "embodiment_tag: gr1\n"
    )
    path = tmp_path / "jobs.json"
    remote = (
        "isaaclab_arena_gr00t.policy.gr00t_remote_closedloop_policy.Gr00tRemoteClosedloopPolicy"
    )
    entry = job(
        arena_env_args={"environment": "gr1_open_microwave", "object": "cracker_box"},
        policy_type=remote,
        policy_config_dict={"policy_config_yaml_path": str(config), "remote_host": "gpu-box",
                            "remote_port": 5556},
    )  # fmt: skip
    path.write_text(json.dumps({"jobs": [entry]}))
    (translated,) = load_jobs(path, None)
    assert translated.error is None
    assert translated.policy == {
        "name": "gr00t",
        "action_chunk_length": 8,
        "image_size": [224, 224],
        "instruction": "open the microwave",
        "host": "gpu-box",
        "port": 5556,
    }
    assert {"policy=gr00t", "embodiment=gr1_joint", "embodiment.params.hands=fingers",
            "enable_cameras=true", "cameras.names=[head]"} <= set(translated.overrides)  # fmt: skip
    assert any("model_path" in note for note in translated.notes)
