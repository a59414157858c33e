"""serve.py: a configured policy behind PolicyServer, queried by policy=remote."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from arena_eval.config import ConfigError, validate
from arena_eval.envs import spec_from_job
from arena_eval.policies.base import make_policy
from arena_eval.serve import ServerSettings, build_server, keygen, server_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def serving(make_cfg, tmp_path):
    """Start serving a composed config in a thread; yield (endpoint, env spec); stop after."""
    started = []

    def start(*overrides: str):
        cfg = make_cfg(*overrides)
        settings = ServerSettings(endpoint=f"ipc://{tmp_path}/policy-{len(started)}.sock")
        server, adapter = build_server(cfg, settings)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, adapter, thread))
        return server.endpoint, spec_from_job(validate(cfg))

    yield start
    for server, adapter, thread in started:
        server.stop()
        thread.join(5)
        server.close()
        adapter.close()


def test_served_policy_answers_a_remote_policy(serving) -> None:
    endpoint, spec = serving("policy=random")
    remote = make_policy({"name": "remote", "endpoint": endpoint}, spec)
    try:
        assert remote.protocol.policy_name == "random"
        assert remote.protocol.action_dim == spec.action_dim
        assert remote.protocol.metadata == {"task": spec.task, "embodiment": spec.embodiment}
        obs = {
            k: np.zeros((spec.num_envs, *s.shape), s.dtype) for k, s in spec.observations.items()
        }
        actions = remote.get_action(obs)
        assert actions.shape == (spec.num_envs, spec.action_dim)
        assert (actions >= np.asarray(spec.action_low)).all()
        assert (actions <= np.asarray(spec.action_high)).all()
        remote.reset(np.array([0]))
        assert remote.stats()["infer_calls"] == 1
    finally:
        remote.close()


def test_each_client_gets_its_own_policy_sized_to_its_envs(serving) -> None:
    endpoint, spec = serving("policy=zero_action")
    small = spec.__class__(**{**spec.__dict__, "num_envs": 2})
    clients = [make_policy({"name": "remote", "endpoint": endpoint}, s) for s in (spec, small)]
    try:
        for client, s in zip(clients, (spec, small), strict=True):
            obs = {k: np.zeros((s.num_envs, *v.shape), v.dtype) for k, v in s.observations.items()}
            np.testing.assert_array_equal(client.get_action(obs), 0)
    finally:
        for client in clients:
            client.close()


def test_remote_evaluation_matches_the_local_one(make_cfg, serving, tmp_path) -> None:
    """The scripted expert served over ZMQ gives the same episodes as run in process."""
    from arena_eval.job import run_job

    common = ("env=lift_object", "length=episodes", "length.n=4", "seed=3")
    endpoint, _ = serving("policy=scripted", *common)
    local = run_job(make_cfg("policy=scripted", *common), tmp_path / "local", show=False)
    remote = run_job(
        make_cfg(
            "policy=zero_action", "policy.name=remote", f"+policy.endpoint={endpoint}", *common
        ),
        tmp_path / "remote",
        show=False,
    )
    assert remote.metrics == local.metrics
    stats = remote.results["timing"]["policy_stats"]
    assert stats["infer_calls"] > 0 and stats["reconnects"] == 0


def test_server_settings_are_validated(make_cfg) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        server_settings({"server": {"prot": 1}})
    assert server_settings({"server": {"port": 6000}}).resolved_endpoint() == "tcp://127.0.0.1:6000"
    with pytest.raises(ConfigError, match="needs both"):
        ServerSettings(secret_key_file="s.key_secret").curve()


def test_keygen_writes_a_key_pair(tmp_path) -> None:
    public, secret = keygen(tmp_path, "server")
    assert public.exists() and secret.exists()
