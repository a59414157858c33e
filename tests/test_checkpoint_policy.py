"""policy=checkpoint: train a tiny behaviour-cloning MLP, evaluate it, and refuse bad files."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from arena_eval.config import validate
from arena_eval.envs.mujoco.backend import build_spec
from arena_eval.job import run_job
from arena_eval.policies.base import PolicyError, make_policy
from arena_eval.policies.checkpoint import MLP_FORMAT, export_torchscript, state_vector

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("train_bc", ROOT / "scripts" / "train_bc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


train_bc = _load_script()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[dict, Path]:
    """16 expert episodes (3 held out), 100 short epochs of a small MLP: a few seconds."""
    demos = train_bc.collect("lift_object", "franka_ik", "cracker_box", episodes=16, seed=1)
    assert len(demos.actions) == demos.attempted == 16  # the expert succeeds on lift_object
    ckpt = train_bc.train(
        demos, hidden=(64, 64), epochs=100, batch_size=64, val_fraction=0.2, log=False
    )
    path = train_bc.save(ckpt, tmp_path_factory.mktemp("bc") / "bc_lift_object.pt")
    return ckpt, path


def spec_for(make_cfg, *overrides: str):
    return build_spec(validate(make_cfg(*overrides)))


def fake_obs(spec, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        k: rng.normal(size=(rows, *s.shape)).astype(np.float32)
        for k, s in spec.observations.items()
    }


def test_checkpoint_format_and_heldout_error(tiny) -> None:
    _, path = tiny
    loaded = torch.load(path, weights_only=True)
    assert loaded["format"] == MLP_FORMAT
    assert loaded["obs_keys"] == list(train_bc.DEFAULT_OBS_KEYS)
    assert sum(loaded["obs_sizes"]) == loaded["obs_mean"].shape[0] == 27
    assert loaded["action_dim"] == 7 and loaded["env"] == "lift_object"
    info = loaded["info"]
    assert info["episodes_val"] == 3 and info["samples_train"] > 800
    # Learned something: held-out demonstrations are predicted far better than by the mean
    # action (about 0.08 of its error here, over training seeds; 1.0 would be no better).
    assert info["val_mse_ratio"] < 0.3, info


def test_evaluates_through_run_job(make_cfg, tmp_path, tiny) -> None:
    _, path = tiny
    cfg = make_cfg("policy=checkpoint", f"policy.path={path}", "length.n=4", "num_envs=4")
    result = run_job(cfg, tmp_path, show=False)
    assert result.status == "completed"
    assert result.metrics["num_episodes"] == 4
    assert 0.0 <= result.metrics["success_rate"] <= 1.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["job"]["policy"] == "checkpoint"


def test_actions_sized_by_observation_batch_and_clipped(make_cfg, tiny) -> None:
    _, path = tiny
    spec = spec_for(make_cfg, "num_envs=4")
    policy = make_policy({"name": "checkpoint", "path": str(path), "device": "cpu"}, spec)
    actions = policy.get_action(fake_obs(spec, 3))  # a subset of envs, as over the wire
    assert actions.shape == (3, 7) and actions.dtype == np.float32
    assert (actions >= np.asarray(spec.action_low, np.float32)).all()
    assert (actions <= np.asarray(spec.action_high, np.float32)).all()


def test_torchscript_export_matches(make_cfg, tmp_path, tiny) -> None:
    ckpt, path = tiny
    script = export_torchscript(ckpt, tmp_path / "bc.ts")
    spec = spec_for(make_cfg)
    obs = fake_obs(spec, 4)
    mlp = make_policy({"name": "checkpoint", "path": str(path)}, spec)
    ts = make_policy({"name": "checkpoint", "path": str(script)}, spec)
    np.testing.assert_allclose(ts.get_action(obs), mlp.get_action(obs), atol=1e-5)
    assert state_vector(obs, ckpt["obs_keys"]).shape == (4, 27)


def test_missing_path_says_how(make_cfg, tmp_path) -> None:
    with pytest.raises(PolicyError, match=r"policy\.path=FILE"):
        run_job(make_cfg("policy=checkpoint"), tmp_path, show=False)
    with pytest.raises(PolicyError, match="no such file"):
        run_job(make_cfg("policy=checkpoint", "policy.path=nowhere.pt"), tmp_path, show=False)


def test_action_dim_mismatch_is_named(make_cfg, tiny) -> None:
    _, path = tiny
    spec = spec_for(make_cfg, "embodiment=franka_joint_pos")
    with pytest.raises(PolicyError, match=r"action_dim is 7 in the checkpoint, 8 for embodiment"):
        make_policy({"name": "checkpoint", "path": str(path)}, spec)


def test_observation_mismatch_is_named(make_cfg, tmp_path, tiny) -> None:
    ckpt, _ = tiny
    spec = spec_for(make_cfg)
    unknown = dict(ckpt, obs_keys=["door_openness", *ckpt["obs_keys"][1:]])
    torch.save(unknown, tmp_path / "keys.pt")
    with pytest.raises(PolicyError, match=r"observation 'door_openness' is not provided"):
        make_policy({"name": "checkpoint", "path": str(tmp_path / "keys.pt")}, spec)
    sizes = dict(ckpt, obs_sizes=[8, *ckpt["obs_sizes"][1:]])
    torch.save(sizes, tmp_path / "sizes.pt")
    with pytest.raises(
        PolicyError, match=r"'joint_pos' has size 9 in the env, 8 in the checkpoint"
    ):
        make_policy({"name": "checkpoint", "path": str(tmp_path / "sizes.pt")}, spec)


def test_wrong_format_is_refused(make_cfg, tmp_path) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(PolicyError, match="not in a documented format"):
        make_policy({"name": "checkpoint", "path": str(tmp_path / "other.pt")}, spec_for(make_cfg))


class _Payload:
    """Unpickling this would create a folder: proof that it was (or was not) executed."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (str(self.target),))


def test_pickled_objects_are_refused_not_run(make_cfg, tmp_path, tiny) -> None:
    ckpt, _ = tiny
    marker = tmp_path / "was_unpickled"
    torch.save(dict(ckpt, info={"payload": _Payload(marker)}), tmp_path / "evil.pt")
    with pytest.raises(PolicyError, match=r"pickled Python object \(posix\.makedirs\)|refused"):
        make_policy({"name": "checkpoint", "path": str(tmp_path / "evil.pt")}, spec_for(make_cfg))
    assert not marker.exists()
