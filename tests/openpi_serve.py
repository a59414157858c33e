"""Policies served by openpi's real ``WebsocketPolicyServer`` (openpi-server 0.1.0), for tests.

Runs in .venv-openpi (``make setup-openpi``), which has openpi-server and nothing of ours:

    .venv-openpi/bin/python tests/openpi_serve.py --port P --policy echo|press [--fail-after N]

- ``echo`` (LIBERO layout): checks the observation strictly (224x224x3 uint8 images, an
  8-float state, a str prompt) and answers ``actions[t] = state[:7] + 0.01 * (t + 1)``
  (H=10, D=7), so a test can tell whose observation produced which chunk.
- ``press``: a memoryless state-feedback controller for press_button on franka_ik; its state is
  ``[ee_pos, button_pos]``; each chunk (H=5) closes most of the error, hovering first, then
  pressing.
``--fail-after N`` raises inside ``infer`` on request N+1: the server then sends its traceback
and closes with code 1011, as a real model failure does.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from openpi_client import base_policy
from openpi_server.websocket_policy_server import WebsocketPolicyServer


class Echo(base_policy.BasePolicy):
    def __init__(self, fail_after: int | None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def infer(self, obs: dict) -> dict:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("planned model failure")
        for key in ("observation/image", "observation/wrist_image"):
            image = obs[key]
            if image.shape != (224, 224, 3) or image.dtype != np.uint8:
                raise ValueError(f"{key}: {image.shape} {image.dtype}")
        state = obs["observation/state"]
        if state.shape != (8,) or state.dtype != np.float32:
            raise ValueError(f"observation/state: {state.shape} {state.dtype}")
        if not isinstance(obs["prompt"], str):
            raise ValueError("prompt must be a str")
        steps = 0.01 * np.arange(1, 11, dtype=np.float32)[:, None]
        return {"actions": state[None, :7] + steps}


class Press(base_policy.BasePolicy):
    HOVER, GAIN, H = 0.06, 0.35, 5

    def infer(self, obs: dict) -> dict:
        state = np.asarray(obs["observation/state"], dtype=np.float64)
        ee, button = state[:3], state[3:6]
        aligned = np.linalg.norm(ee[:2] - button[:2]) < 0.01
        target = button + np.array([0.0, 0.0, -0.02 if aligned else self.HOVER])
        actions = np.zeros((self.H, 7), dtype=np.float32)
        pos = ee.copy()
        for t in range(self.H):
            step = np.clip(self.GAIN * (target - pos), -0.012, 0.012)
            pos += step
            actions[t, :3] = step
        actions[:, 6] = -1.0  # a closed hand presses
        return {"actions": actions}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--policy", choices=["echo", "press"], required=True)
    parser.add_argument("--fail-after", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    policy = Echo(args.fail_after) if args.policy == "echo" else Press()
    server = WebsocketPolicyServer(
        policy, host="127.0.0.1", port=args.port, metadata={"policy": args.policy}
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
