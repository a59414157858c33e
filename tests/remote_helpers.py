"""Test helpers for the remote library: a tiny numpy policy, and a script that serves it.

Run as ``python tests/remote_helpers.py --endpoint tcp://127.0.0.1:0`` (the tests do this in a
subprocess); it prints ``READY <endpoint>`` once it listens.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import zmq

from arena_eval.remote import (
    PROTOCOL_VERSION,
    ActionProtocol,
    PolicyServer,
    ServerCurve,
    TensorSpec,
)
from arena_eval.remote.codec import encode

NUM_ENVS_MAX = 64
ACTION_DIM = 6
STATE_DIM = 4
# Columns of every action, so tests can read back what the policy saw.
ENV_ID, STEP, RESETS, TASK_LEN, STATE0, CALLS = range(ACTION_DIM)


def tiny_protocol(chunk_length: int = 8, image: bool = False) -> ActionProtocol:
    observations = {"state": TensorSpec((STATE_DIM,), "float32")}
    if image:
        observations["image"] = TensorSpec((8, 8, 3), "uint8")
    return ActionProtocol(
        observations=observations,
        action_dim=ACTION_DIM,
        chunk_length=chunk_length,
        horizon=chunk_length,
        control_hz=10.0,
        policy_name="tiny",
        action_mode="test",
    )


class TinyPolicy:
    """Per-client counters written into the actions: env id, step in chunk, resets, task."""

    def __init__(self, chunk_length: int, delay_s: float = 0.0) -> None:
        self.chunk_length = chunk_length
        self.delay_s = delay_s
        self.resets: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(NUM_ENVS_MAX))
        self.tasks: dict[str, str] = defaultdict(str)
        self.calls: dict[str, int] = defaultdict(int)

    def infer(self, obs: dict[str, np.ndarray], env_ids: np.ndarray, client: str) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        if float(obs["state"][0, 0]) == -1.0:
            raise RuntimeError("the tiny policy was asked to fail")
        self.calls[client] += 1
        out = np.zeros((env_ids.size, self.chunk_length, ACTION_DIM), np.float32)
        out[:, :, ENV_ID] = env_ids[:, None]
        out[:, :, STEP] = np.arange(self.chunk_length)[None, :]
        out[:, :, RESETS] = self.resets[client][env_ids][:, None]
        out[:, :, TASK_LEN] = len(self.tasks[client])
        out[:, :, STATE0] = obs["state"][:, 0:1]
        out[:, :, CALLS] = self.calls[client]
        return out

    def reset(self, env_ids: np.ndarray | None, client: str) -> None:
        if env_ids is None:
            self.resets[client] += 1
        else:
            self.resets[client][env_ids] += 1

    def set_task_description(self, text: str, client: str) -> None:
        self.tasks[client] = text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args: str, timeout_s: float = 15.0) -> tuple[subprocess.Popen, str]:
    """Start this module as a server process; return it and the endpoint it listens on.

    The server's log goes to a temporary file (a pipe nobody drains would block a chatty
    server); :func:`server_log` reads it.
    """
    # Closed (and deleted) by stop_server, which outlives this function.
    log_file = tempfile.NamedTemporaryFile("w+", prefix="remote-server-", suffix=".log")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    proc.log_file = log_file  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            return proc, line.split()[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait(5)
    raise RuntimeError(f"test server did not start:\n{server_log(proc)[-3000:]}")


def server_log(proc: subprocess.Popen) -> str:
    return Path(proc.log_file.name).read_text()  # type: ignore[attr-defined]


def stop_server(proc: subprocess.Popen, timeout_s: float = 5.0) -> str:
    """Terminate (if still running); return the server's log."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    text = server_log(proc)
    proc.log_file.close()  # type: ignore[attr-defined]
    return text


@contextlib.contextmanager
def running_server(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    proc, endpoint = start_server(*args)
    try:
        yield proc, endpoint
    finally:
        stop_server(proc)


class RawPeer:
    """A bare DEALER that sends whatever frames a test makes and waits (bounded) for a reply."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.sndtimeo = 2000
        self.sock.connect(endpoint)

    def request(self, frames: list, timeout_s: float = 3.0) -> tuple[dict, list] | None:
        """(header, frames) of the reply, or None if none came within ``timeout_s``."""
        self.sock.send_multipart(frames, copy=False)
        if not self.sock.poll(int(timeout_s * 1000)):
            return None
        reply = self.sock.recv_multipart()
        return msgpack.unpackb(reply[0]), reply

    def close(self) -> None:
        self.sock.close(linger=0)


def message(kind: str, body: dict | None = None, arrays: dict | None = None, **meta) -> list:
    """Frames of a well-formed request (``meta`` overrides v/id)."""
    header = {"v": PROTOCOL_VERSION, "type": kind, "id": 1, "body": body or {}, **meta}
    return encode(header, arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:*")
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--image", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--max-bytes", type=int, default=1 << 20)
    parser.add_argument("--server-key", help="server .key_secret file (turns CURVE on)")
    parser.add_argument("--allowed", help="folder of allowed client .key files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    curve = ServerCurve(args.server_key, args.allowed) if args.server_key else None
    policy = TinyPolicy(args.chunk, args.delay)
    with PolicyServer(
        policy,
        tiny_protocol(args.chunk, args.image),
        args.endpoint,
        curve=curve,
        max_message_bytes=args.max_bytes,
    ) as server:
        print("READY", server.endpoint, flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
