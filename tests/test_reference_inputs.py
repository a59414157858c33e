"""The reference's inputs as its users bring them: the policy runner's flags, YAML Experiments,
the newer JSON job fields (policy_args, num_rebuilds, variations, strict fields), and cameras
rendered only for the jobs that ask for them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from arena_eval.batch import translate_job
from arena_eval.config import ConfigError, compose, validate
from arena_eval.experiments import load_experiment
from arena_eval.job import run_job, split
from arena_eval.policy_runner import translate
from tests.test_sweep import arena, results

FRIDGE = (
    "put_item_in_fridge_and_close_door --embodiment gr1_joint --object_set "
    "ketchup_bottle_hope_robolab ranch_dressing_hope_robolab bbq_sauce_bottle_hope_robolab "
    "mayonnaise_bottle_hope_robolab"
)
BASE = "--policy_type zero_action --num_steps 2000 --num_envs 4"


def overrides_of(command: str) -> list[str]:
    return translate(command.split())[0]


# -- arena-eval-policy-runner ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("", ["num_envs=4", "seed=42", "length=steps", "length.n=2000", "policy=zero_action"]),
        ("--seed 7", ["seed=7"]),
        ("--enable_cameras", ["enable_cameras=true"]),
        ("--record_camera_video", ["record_video=true"]),
        ("--video_base_dir /tmp/v", ['cameras.video_dir="/tmp/v"']),
        ("--device cuda:1", ["device=cuda:1"]),
        ("--distributed", ["distributed=true"]),
        ("--language_instruction Close_it", ['language_instruction="Close_it"']),
        ("--random_object_choice", ["object_set_random=true"]),
        ("--headless", []),
        ("--env_spacing 2.5", []),
        ("--placement_seed 3", []),
    ],
)
def test_policy_runner_flags(flags: str, expected: list[str]) -> None:
    overrides = overrides_of(f"{BASE} {flags} {FRIDGE}")
    assert overrides[:2] == ["env=fridge", "embodiment=gr1_joint"]
    assert (
        "object_set=[ketchup_bottle,ranch_dressing_bottle,bbq_sauce_bottle,mayonnaise_bottle]"
        in overrides
    )
    assert set(expected) <= set(overrides)


def test_policy_runner_composes_what_the_json_path_composes() -> None:
    overrides = overrides_of(f"{BASE} --enable_cameras {FRIDGE}")
    as_json = translate_job(
        {
            "name": "x",
            "arena_env_args": {
                "environment": "put_item_in_fridge_and_close_door",
                "embodiment": "gr1_joint",
                "object_set": FRIDGE.split()[4:],
                "num_envs": 4,
                "seed": 42,
                "enable_cameras": True,
            },
            "policy_type": "zero_action",
            "num_steps": 2000,
        },
        None,
    )
    assert validate(compose(overrides)) == validate(
        compose([*as_json.overrides, "policy=zero_action"])
    )


def test_policy_runner_length_object_and_notes() -> None:
    command = "--policy_type scripted --num_episodes 5 --headless lift_object --object sugar_box"
    overrides, notes = translate(command.split())
    assert {"length=episodes", "length.n=5", "object=sugar_box", "policy=scripted"} <= set(
        overrides
    )
    assert notes == ["--headless: always headless"]
    # A dotted class path names the policy; registered names pick the group's config.
    dotted = overrides_of("--policy_type my_pkg.MyPolicy --num_steps 3 lift_object")
    assert 'policy.name="my_pkg.MyPolicy"' in dotted


def test_policy_runner_remote_client_maps_to_policy_remote() -> None:
    overrides = overrides_of(
        "--policy_type isaaclab_arena.policy.action_chunking_client.ActionChunkingClientSidePolicy "
        "--remote_host 127.0.0.1 --remote_port 5599 --remote_timeout_ms 2500 "
        "--remote_kill_on_exit --num_steps 10 lift_object"
    )
    assert "policy=remote" in overrides
    policy = validate(compose(overrides)).policy
    assert (policy["host"], policy["port"], policy["kill_on_exit"]) == ("127.0.0.1", 5599, True)
    assert policy["timeout_s"] == 2.5


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (f"{BASE} --record_viewport_video lift_object", "use --record_camera_video"),
        (f"{BASE} --list_variations lift_object", "no scene variations yet"),
        (f"{BASE} --policy_config_yaml_path x.yaml lift_object", "Gr00tRemoteClosedloopPolicy"),
        (f"{BASE} --mimic lift_object", "unsupported argument(s) --mimic"),
        ("--policy_type zero_action lift_object", "give --num_steps or --num_episodes"),
        (f"{BASE} --num_episodes 3 lift_object", "not allowed with argument --num_steps"),
        (f"{BASE} lift_object --object a --object_set b", "not allowed with argument"),
        (
            "--policy_type ActionChunkingClientSidePolicy --remote_api_token s3cret --num_steps "
            "3 lift_object",
            "uses CURVE keys",
        ),
        ("--policy_type Gr00tClosedloopPolicy --num_steps 3 lift_object", "GR00T inference server"),
    ],
)
def test_policy_runner_refuses_with_what_to_do(command: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        translate(command.split())
    assert message in str(err.value)
    assert "s3cret" not in str(err.value)


@pytest.mark.integration
def test_policy_runner_runs_the_reference_command(tmp_path: Path) -> None:
    # The reference's own example (its lengths shortened so the test is quick).
    command = f"--policy_type zero_action --num_steps 5 --num_envs 4 --enable_cameras {FRIDGE}"
    proc = arena(*command.split(), cwd=tmp_path, tool="arena-eval-policy-runner")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = (tmp_path / "outputs" / "default" / "runs").iterdir()
    result = json.loads((out / "results.json").read_text())
    assert result["job"]["env"] == "fridge" and result["job"]["embodiment"] == "gr1_joint"
    assert result["job"]["num_envs"] == 4 and result["job"]["seed"] == 42
    assert len(result["job"]["objects"]) == 4
    assert result["timing"]["steps"] == 5 and result["timing"]["images_rendered"] > 0
    assert (out / ".hydra" / "config.yaml").is_file()  # replayable like any arena-eval run


# -- JSON jobs: the newer fields ---------------------------------------------------------------
def job(**changes):
    base = {
        "name": "j",
        "arena_env_args": {"environment": "lift_object", "embodiment": "franka", "num_envs": 2},
        "policy_type": "scripted",
        "num_episodes": 6,
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "done"}, "unknown field(s) status; valid: arena_env_args,"),
        ({"colour": 1}, "job 'j': unknown field(s) colour"),
        (
            {"arena_env_args": {"environment": "lift_object", "mimic": True}},
            "unknown arena_env_args field(s) mimic",
        ),
        ({"variations": {"lighting": {}}}, "variations are not supported yet"),
        ({"num_rebuilds": 0}, "num_rebuilds must be a positive integer"),
        ({"policy_args": {}, "policy_config_dict": {}}, "not both"),
    ],
)
def test_json_job_fields_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        translate_job(job(**changes), None)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [("gr1_pink", "gr1_ik"), ("g1_wbc_pink", "g1_ik"), ("g1_wbc_joint", "g1_joint")],
)
def test_reference_embodiment_names(theirs: str, ours: str) -> None:
    args = {"environment": "lift_object", "embodiment": theirs}
    overrides = translate_job(job(arena_env_args=args), None).overrides
    assert f"embodiment={ours}" in overrides
    assert validate(compose(overrides)).embodiment == ours


def test_policy_args_is_policy_config_dict() -> None:
    old = translate_job(job(policy_args={"seed_offset": 3}), None)
    new = translate_job(job(policy_config_dict={"seed_offset": 3}), None)
    assert old.policy == new.policy == {"name": "scripted", "seed_offset": 3}


def test_num_rebuilds_split_remainder_first() -> None:
    assert split(10, 3) == [(0, 4), (4, 3), (7, 3)]
    assert split(4, 4) == [(0, 1), (1, 1), (2, 1), (3, 1)]
    assert "num_rebuilds=3" in translate_job(job(num_rebuilds=3), None).overrides
    with pytest.raises(ConfigError, match=r"length\.n must be at least num_rebuilds"):
        validate(compose(["length.n=2", "num_rebuilds=3"]))


def _episodes(folder: Path) -> list[dict]:
    with open(folder / "episodes.csv") as fh:
        return [
            {k: r[k] for k in ("episode_index", "seed", "success", "length")}
            for r in csv.DictReader(fh)
        ]


def test_num_rebuilds_pools_the_same_episodes(tmp_path: Path, make_cfg) -> None:
    """Three env builds run episodes 0-3, 4-6 and 7-9: the same episodes, seeds and outcomes
    as one build, and metrics pooled over all of them."""
    common = ("env=lift_object", "policy=scripted", "num_envs=3", "length.n=10")
    one = run_job(make_cfg(*common), tmp_path / "one")
    three = run_job(make_cfg(*common, "num_rebuilds=3"), tmp_path / "three")
    assert three.results["rebuilds"] == [
        {"first_episode": 0, "episodes": 4},
        {"first_episode": 4, "episodes": 3},
        {"first_episode": 7, "episodes": 3},
    ]
    assert three.metrics["num_episodes"] == 10
    assert three.metrics == one.metrics | {"num_episodes": 10}
    assert _episodes(tmp_path / "three") == _episodes(tmp_path / "one")


def test_num_rebuilds_with_steps(tmp_path: Path, make_cfg) -> None:
    result = run_job(
        make_cfg("policy=zero_action", "length=steps", "length.n=7", "num_rebuilds=2"), tmp_path
    )
    assert [s["steps"] for s in result.results["rebuilds"]] == [4, 3]
    assert result.results["timing"]["steps"] == 7


# -- YAML Experiments --------------------------------------------------------------------------
EXPERIMENT = """
name: kitchen_study
shared:
  environment:
    embodiment: franka_ik
    object: sugar_box
  environment_builder:
    num_envs: 2
    env_spacing: 3.0
  policy:
    type: scripted
  rollout_limit:
    num_episodes: 4
runs:
  baseline:
    environment:
      type: lift_object
    policy:
      type: zero_action
    rollout_limit:
      num_steps: 50
      num_episodes: null
  expert_microwave:
    environment:
      type: microwave
      object: cracker_box
    num_rebuilds: 2
  broken:
    environment:
      type: lift_object
    rollout_limit:
      num_epsiodes: 3
"""


def test_experiment_shared_runs_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    name, jobs = load_experiment(path, ["runs.baseline.rollout_limit.num_steps=2"], None)
    assert name == "kitchen_study"
    baseline, microwave, broken = jobs
    assert {"env=lift_object", "embodiment=franka_ik", "object=sugar_box", "num_envs=2"} <= set(
        baseline.overrides
    )
    assert {"length=steps", "length.n=2"} <= set(baseline.overrides)
    assert baseline.policy == {"name": "zero_action"}
    assert {"env=open_microwave", "object=cracker_box", "num_rebuilds=2", "length.n=4"} <= set(
        microwave.overrides
    )
    assert microwave.policy == {"name": "scripted"}
    assert "unknown rollout_limit key(s) num_epsiodes" in broken.error
    # shared.<key>=<value> reaches every run.
    _, jobs = load_experiment(path, ["shared.environment_builder.num_envs=3"], None)
    assert all("num_envs=3" in j.overrides for j in jobs[:2])


@pytest.mark.integration
def test_experiment_runs_as_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    proc = arena(
        "--experiment_config",
        str(path),
        "runs.baseline.rollout_limit.num_steps=2",
        "progress=false",
        cwd=tmp_path,
        tool="arena-eval-batch",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken run fails, alone
    (folder,) = (tmp_path / "outputs" / "kitchen_study" / "batches").iterdir()
    baseline, microwave, broken = results(folder)
    assert baseline["status"] == "completed" and baseline["timing"]["steps"] == 2
    assert microwave["status"] == "completed" and microwave["metrics"]["num_episodes"] == 4
    assert microwave["metrics"]["success_rate"] == 1.0 and len(microwave["rebuilds"]) == 2
    assert broken["status"] == "failed" and "num_epsiodes" in broken["error"]


# -- cameras per job ---------------------------------------------------------------------------
@pytest.mark.integration
def test_a_camera_job_does_not_turn_cameras_on_for_the_others(tmp_path: Path) -> None:
    plain = job(name="plain", num_episodes=None, num_steps=20, policy_type="zero_action")
    cams = job(name="cams", num_episodes=None, num_steps=3, policy_type="zero_action")
    cams["arena_env_args"] = {**cams["arena_env_args"], "enable_cameras": True}
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"jobs": [plain, cams]}))
    proc = arena(
        "--eval_jobs_config", str(path), "progress=false", cwd=tmp_path, tool="arena-eval-batch"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = (tmp_path / "outputs" / "batch" / "batches").iterdir()
    first, second = results(folder)
    assert first["timing"]["images_rendered"] == 0
    assert first["config"]["enable_cameras"] is False
    assert second["timing"]["images_rendered"] > 0
    assert first["app"]["app_id"] == second["app"]["app_id"]


@pytest.mark.integration
def test_policy_runner_remote_client_against_a_real_server(tmp_path: Path) -> None:
    """The reference's client-side chunking policy, as its docs run it, against our server:
    the expert served with 4-step chunks, the server stopped by --remote_kill_on_exit."""
    from tests.test_remote_cli import free_port, start_server

    port = free_port()
    server = start_server(port, "policy=scripted", "policy.chunk_length=4", cwd=tmp_path)
    try:
        command = (
            "--policy_type isaaclab_arena.policy.action_chunking_client."
            f"ActionChunkingClientSidePolicy --remote_host 127.0.0.1 --remote_port {port} "
            "--remote_kill_on_exit --num_episodes 4 --num_envs 2 lift_object "
            "--embodiment franka_ik --object cracker_box"
        )
        proc = arena(*command.split(), cwd=tmp_path, tool="arena-eval-policy-runner")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert server.wait(timeout=30) == 0  # kill_on_exit stopped it
    finally:
        server.kill()
    (out,) = (tmp_path / "outputs" / "default" / "runs").iterdir()
    result = json.loads((out / "results.json").read_text())
    assert result["job"]["policy"] == "remote"
    assert result["metrics"]["num_episodes"] == 4 and result["metrics"]["success_rate"] >= 0.75
