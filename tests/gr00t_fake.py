"""A strict stand-in for Isaac-GR00T's inference server (N1.5 and N1.6), for tests.

No package serves GR00T N1.5/N1.6 on a CPU, so this server is written from the protocol's
facts (docs/gr00t.md), independently of arena-eval's client: a ZMQ REP socket, one msgpack
map per request, arrays as whole .npy files (``allow_pickle=False``). It rejects any request
whose keys, shapes, dtypes, batch sizes or language layout differ from what a real GR1 server
takes, with ``{"error": ...}`` as the real one does. Its actions are a known function of each
env's own state (state + 0.01 * (t + 1) at chunk step t), so a test can tell whose observation
produced which action. Every request is logged as one JSON line to ``--log``.

    python -m tests.gr00t_fake --port P --version n1.5|n1.6 [--mode ok|slow|error|pickle]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time

import msgpack
import numpy as np
import zmq

HORIZON = 16
LANGUAGE = "annotation.human.action.task_description"


def groups(waist: bool) -> dict[str, int]:
    out = {"left_arm": 7, "right_arm": 7, "left_hand": 6, "right_hand": 6}
    if waist:
        out["waist"] = 3
    return out


def encode(obj):
    if isinstance(obj, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return {"__ndarray_class__": True, "as_npy": buf.getvalue()}
    raise TypeError(type(obj))


def decode(obj):
    if obj.get("__ndarray_class__"):
        return np.load(io.BytesIO(obj["as_npy"]), allow_pickle=False)
    return obj


def modality_config(version: str, waist: bool) -> dict:
    def cfg(delta, keys):
        body = {"delta_indices": delta, "modality_keys": keys}
        if version == "n1.6":
            body.update(sin_cos_embedding_keys=None, mean_std_embedding_keys=None)
        return {
            "__ModalityConfig_class__": True,
            "as_json": json.dumps(body) if version == "n1.5" else body,
        }

    names = list(groups(waist))
    prefix = version == "n1.5"
    return {
        "video": cfg([0], ["video.ego_view" if prefix else "ego_view"]),
        "state": cfg([0], [f"state.{n}" if prefix else n for n in names]),
        "action": cfg(list(range(HORIZON)), [f"action.{n}" if prefix else n for n in names]),
        "language": cfg([0], [LANGUAGE]),
    }


class Reject(Exception):
    pass


def check_array(name, value, dtype, shape):
    if not isinstance(value, np.ndarray):
        raise Reject(f"{name}: expected an array, got {type(value).__name__}")
    if value.dtype != np.dtype(dtype):
        raise Reject(f"{name}: dtype {value.dtype}, expected {dtype}")
    if value.shape != shape:
        raise Reject(f"{name}: shape {value.shape}, expected {shape}")


def parse_observation(version: str, data, waist: bool, image: tuple[int, int]):
    """Validate one get_action request; return (states by group, instructions)."""
    names = groups(waist)
    if version == "n1.5":
        expected = {"video.ego_view", LANGUAGE, *(f"state.{n}" for n in names)}
        if set(data) != expected:
            raise Reject(f"keys {sorted(data)}, expected {sorted(expected)}")
        video = data["video.ego_view"]
        states = {n: data[f"state.{n}"] for n in names}
        text = data[LANGUAGE]
        if not (isinstance(text, list) and all(isinstance(t, str) for t in text)):
            raise Reject(f"{LANGUAGE}: expected a list of str, got {text!r}")
        instructions = text
    else:
        if set(data) != {"observation", "options"}:
            raise Reject(f"data keys {sorted(data)}, expected ['observation', 'options']")
        obs = data["observation"]
        if set(obs) != {"video", "state", "language"}:
            raise Reject(f"observation keys {sorted(obs)}")
        if set(obs["video"]) != {"ego_view"} or set(obs["state"]) != set(names):
            raise Reject(f"video {sorted(obs['video'])} / state {sorted(obs['state'])}")
        video, states = obs["video"]["ego_view"], obs["state"]
        text = obs["language"].get(LANGUAGE)
        if not (
            isinstance(text, list)
            and all(isinstance(t, list) and len(t) == 1 and isinstance(t[0], str) for t in text)
        ):
            raise Reject(f"{LANGUAGE}: expected one [str] per batch item, got {text!r}")
        instructions = [t[0] for t in text]
    if not isinstance(video, np.ndarray) or video.ndim != 5:
        raise Reject("ego_view: expected (B, T, H, W, 3)")
    batch = video.shape[0]
    check_array("ego_view", video, "uint8", (batch, 1, *image, 3))
    for n, dim in names.items():
        check_array(f"state {n}", states[n], "float32", (batch, 1, dim))
    if len(instructions) != batch:
        raise Reject(f"{len(instructions)} instructions for a batch of {batch}")
    return states, instructions


def actions(version: str, states: dict) -> object:
    steps = 0.01 * np.arange(1, HORIZON + 1, dtype=np.float32)[None, :, None]
    out = {n: (s[:, :1, :] + steps).astype(np.float32) for n, s in states.items()}
    if version == "n1.5":
        return {f"action.{n}": v for n, v in out.items()}
    return [out, {}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["n1.5", "n1.6"], required=True)
    parser.add_argument("--mode", choices=["ok", "slow", "error", "pickle"], default="ok")
    parser.add_argument("--waist", action="store_true")
    parser.add_argument("--image", type=int, nargs=2, default=[256, 256])
    parser.add_argument("--token", default=None)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    sock = zmq.Context.instance().socket(zmq.REP)
    sock.bind(f"tcp://127.0.0.1:{args.port}")
    log = open(args.log, "a") if args.log else None  # noqa: SIM115
    print("ready", flush=True)
    while True:
        request = msgpack.unpackb(sock.recv(), object_hook=decode, raw=False)
        endpoint = request.get("endpoint", "get_action")
        entry = {"endpoint": endpoint, "token": request.get("api_token") is not None}
        if args.token and request.get("api_token") != args.token:
            reply = {"error": "Unauthorized: invalid API token"}
        elif args.mode == "pickle" and endpoint == "get_modality_config":
            sock.send(b"PK\x03\x04" + b"\x00" * 26)  # what torch.save's zip starts with
            continue
        elif endpoint == "ping":
            reply = {"status": "ok", "message": "Server is running"}
        elif endpoint == "kill":
            sock.send(msgpack.packb(None))
            return
        elif endpoint == "get_modality_config":
            reply = modality_config(args.version, args.waist)
        elif endpoint == "reset" and args.version == "n1.6":
            reply = {}
        elif endpoint == "get_action":
            if args.mode == "slow":
                time.sleep(3600)
            if args.mode == "error":
                reply = {"error": "CUDA out of memory (a test's planned failure)"}
            else:
                try:
                    states, texts = parse_observation(
                        args.version, request.get("data"), args.waist, tuple(args.image)
                    )
                    reply = actions(args.version, states)
                    entry.update(
                        batch=len(texts),
                        instructions=texts,
                        states={k: v[:, 0].tolist() for k, v in states.items()},
                    )
                except Reject as err:
                    reply = {"error": f"bad observation: {err}"}
                    entry["rejected"] = str(err)
        else:
            reply = {"error": f"unknown endpoint {endpoint!r}"}
        if log:
            log.write(json.dumps(entry) + "\n")
            log.flush()
        sock.send(msgpack.packb(reply, default=encode, use_bin_type=True))


if __name__ == "__main__":
    sys.exit(main())
