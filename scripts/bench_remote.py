"""Round-trip latency of the remote policy link against transport baselines (docs/performance.md).

Every server runs in its own process on loopback; this process is the client. Payload: 16 envs
with two 224x224x3 uint8 images and a 32-float state (~4.8 MB) answered by a 16x16x32 float32
action chunk; plus a 1-env control-loop round trip (32 floats in, 1x1x7 out).

    .venv/bin/python scripts/bench_remote.py [--calls 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pickle
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import msgpack
import numpy as np
import zmq

from arena_eval.remote import ActionProtocol, PolicyClient, PolicyServer, TensorSpec

IMAGE = (224, 224, 3)
STATE = 32
PAYLOADS = {
    # name: (envs, chunk_length, action_dim, with images)
    "batch": (16, 16, 32, True),
    "control": (1, 1, 7, False),
}
KINDS = ("raw", "ours", "npsave", "pickle", "websockets")
LABELS = {
    "raw": "(a) raw ZMQ DEALER/ROUTER, zero-copy frames (floor)",
    "ours": "ours: PolicyClient -> PolicyServer",
    "npsave": "(b) REQ/REP, msgpack + np.save'd arrays",
    "pickle": "(c) REQ/REP, pickle protocol 5",
    "websockets": "(d) websockets + msgpack arrays, no compression",
}


def observations(envs: int, images: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = {"state": rng.standard_normal((envs, STATE), dtype=np.float32)}
    if images:
        for name in ("front", "wrist"):
            obs[name] = rng.integers(0, 255, (envs, *IMAGE), dtype=np.uint8)
    return obs


# The policy servers users already run, on the payloads their models take (GR1 for GR00T,
# LIBERO for openpi), each against our protocol carrying the same arrays.
GR00T_GROUPS = {"left_arm": 7, "right_arm": 7, "left_hand": 6, "right_hand": 6}
GR00T_ENVS, GR00T_HORIZON, GR00T_IMAGE = 16, 16, (256, 256, 3)
OPENPI_ENVS, OPENPI_H, OPENPI_D = 16, 10, 7


def gr00t_batch(envs: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    data = {"video.ego_view": rng.integers(0, 255, (envs, 1, *GR00T_IMAGE), dtype=np.uint8)}
    for name, n in GR00T_GROUPS.items():
        data[f"state.{name}"] = rng.standard_normal((envs, 1, n), dtype=np.float32)
    data["annotation.human.action.task_description"] = ["open the microwave"] * envs
    return data


def openpi_obs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "observation/image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
        "observation/state": rng.standard_normal(8, dtype=np.float32),
        "prompt": "lift the object",
    }


def protocol_observations(payload: str, envs: int) -> dict[str, np.ndarray]:
    """Our protocol's arrays for the same content as a GR00T or openpi request."""
    rng = np.random.default_rng(0)
    if payload == "gr00t":
        return {
            "ego_view": rng.integers(0, 255, (envs, *GR00T_IMAGE), dtype=np.uint8),
            "state": rng.standard_normal((envs, 26), dtype=np.float32),
        }
    return {
        "image": rng.integers(0, 255, (envs, 224, 224, 3), dtype=np.uint8),
        "wrist_image": rng.integers(0, 255, (envs, 224, 224, 3), dtype=np.uint8),
        "state": rng.standard_normal((envs, 8), dtype=np.float32),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- servers (each runs in its own process) ----------------------------------------------------


class ConstantPolicy:
    """Answers with a ready-made chunk: the benchmark measures transport, not a model."""

    def __init__(self, chunk: int, dim: int) -> None:
        self.chunk, self.dim = chunk, dim
        self._cache: dict[int, np.ndarray] = {}

    def infer(self, obs: dict, env_ids: np.ndarray, client: str) -> np.ndarray:
        n = env_ids.size
        if n not in self._cache:
            self._cache[n] = np.zeros((n, self.chunk, self.dim), np.float32)
        return self._cache[n]

    def reset(self, env_ids: np.ndarray | None, client: str) -> None:
        pass

    def set_task_description(self, text: str, client: str) -> None:
        pass


def serve_ours(port: int, payload: str) -> None:
    _, chunk, dim, images = PAYLOADS[payload]
    specs = {k: TensorSpec(v.shape[1:], v.dtype.name) for k, v in observations(1, images).items()}
    protocol = ActionProtocol(specs, action_dim=dim, chunk_length=chunk, policy_name="constant")
    with PolicyServer(ConstantPolicy(chunk, dim), protocol, f"tcp://127.0.0.1:{port}") as server:
        print("READY", flush=True)
        server.serve_forever()


def serve_raw(port: int) -> None:
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.linger = 0
    sock.bind(f"tcp://127.0.0.1:{port}")
    big = np.zeros((16, 16, 32), np.float32)
    small = np.zeros((1, 1, 7), np.float32)
    header = msgpack.packb({"v": 1, "type": "infer", "id": 0, "body": {}, "arrays": []})
    print("READY", flush=True)
    while True:
        frames = sock.recv_multipart(copy=False)
        # No parsing: the reply's size follows the request's, as a real server's would.
        chunk = big if len(frames[-1]) > 100_000 else small
        sock.send_multipart([frames[0], header, chunk], copy=False)


def _npsave(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npload(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def serve_reqrep(port: int, style: str) -> None:
    sock = zmq.Context.instance().socket(zmq.REP)
    sock.linger = 0
    sock.bind(f"tcp://127.0.0.1:{port}")
    print("READY", flush=True)
    while True:
        data = sock.recv(copy=False)
        if style == "npsave":
            request = msgpack.unpackb(data.buffer)
            obs = {k: _npload(v) for k, v in request["obs"].items()}
            actions = np.zeros(request["reply_shape"], np.float32)
            sock.send(msgpack.packb({"actions": _npsave(actions)}))
        else:
            request = pickle.loads(data.buffer)
            obs = request["obs"]
            actions = np.zeros(request["reply_shape"], np.float32)
            sock.send(pickle.dumps({"actions": actions}, protocol=5))
        del obs


def _pack_arrays(obj: dict) -> bytes:
    """msgpack with arrays as {__ndarray__, data, dtype, shape} maps, as openpi-client does."""

    def default(value: object) -> object:
        if isinstance(value, np.ndarray):
            return {
                "__ndarray__": True,
                "data": value.tobytes(),
                "dtype": value.dtype.str,
                "shape": list(value.shape),
            }
        raise TypeError(f"cannot pack {type(value)}")

    return msgpack.packb(obj, default=default)


def _unpack_arrays(data: bytes) -> dict:
    def hook(value: dict) -> object:
        if value.get("__ndarray__"):
            return np.frombuffer(value["data"], dtype=value["dtype"]).reshape(value["shape"])
        return value

    return msgpack.unpackb(data, object_hook=hook)


def serve_websockets(port: int) -> None:
    from websockets.sync.server import serve

    def handler(ws) -> None:
        for message in ws:
            request = _unpack_arrays(message)
            ws.send(_pack_arrays({"actions": np.zeros(request["reply_shape"], np.float32)}))

    with serve(handler, "127.0.0.1", port, compression=None, max_size=None) as server:
        print("READY", flush=True)
        server.serve_forever()


def serve_gr00t(port: int) -> None:
    """GR00T's wire (REQ/REP, msgpack, .npy arrays) answering a constant N1.5 GR1 chunk."""
    from arena_eval.remote.gr00t import pack, unpack

    sock = zmq.Context.instance().socket(zmq.REP)
    sock.bind(f"tcp://127.0.0.1:{port}")
    replies: dict[int, bytes] = {}
    print("READY", flush=True)
    while True:
        request = unpack(sock.recv())
        data = request.get("data") or {}
        envs = len(data.get("annotation.human.action.task_description", [0]))
        if envs not in replies:
            replies[envs] = pack({f"action.{k}": np.zeros((envs, GR00T_HORIZON, n), np.float32)
                                  for k, n in GR00T_GROUPS.items()})  # fmt: skip
        sock.send(replies[envs])


def serve_protocol_ours(port: int, payload: str) -> None:
    specs = {k: TensorSpec(v.shape[1:], v.dtype.name)
             for k, v in protocol_observations(payload, 1).items()}  # fmt: skip
    chunk, dim = (GR00T_HORIZON, 26) if payload == "gr00t" else (OPENPI_H, OPENPI_D)
    protocol = ActionProtocol(specs, action_dim=dim, chunk_length=chunk, policy_name="constant")
    with PolicyServer(ConstantPolicy(chunk, dim), protocol, f"tcp://127.0.0.1:{port}") as server:
        print("READY", flush=True)
        server.serve_forever()


def serve(kind: str, port: int, payload: str) -> None:
    if kind == "gr00t":
        serve_gr00t(port)
    elif kind == "ours_protocol":
        serve_protocol_ours(port, payload)
    elif kind == "ours":
        serve_ours(port, payload)
    elif kind == "raw":
        serve_raw(port)
    elif kind in ("npsave", "pickle"):
        serve_reqrep(port, kind)
    else:
        serve_websockets(port)


# -- clients -------------------------------------------------------------------------------------

Call = Callable[[], None]


def client_ours(port: int, obs: dict, chunk: int, dim: int, server_times: list[float]) -> Call:
    client = PolicyClient(f"tcp://127.0.0.1:{port}", timeout_s=10.0)
    client.connect()
    env_ids = np.arange(len(obs["state"]))

    def call() -> None:
        result = client.infer(obs, env_ids)
        server_times.append(result.server_infer_s)

    return call


def client_raw(port: int, obs: dict, chunk: int, dim: int) -> Call:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{port}")
    header = msgpack.packb({"v": 1, "type": "infer", "id": 1, "body": {}, "arrays": []})
    frames = [header, *(a.reshape(-1).view(np.uint8) for a in obs.values())]

    def call() -> None:
        sock.send_multipart(frames, copy=False)
        if not sock.poll(10_000):
            raise TimeoutError("raw server did not answer")
        reply = sock.recv_multipart(copy=False)
        np.frombuffer(reply[-1].buffer, np.float32)

    return call


def client_reqrep(port: int, obs: dict, chunk: int, dim: int, style: str) -> Call:
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{port}")
    reply_shape = [len(obs["state"]), chunk, dim]

    def call() -> None:
        if style == "npsave":
            packed = {k: _npsave(v) for k, v in obs.items()}
            sock.send(msgpack.packb({"obs": packed, "reply_shape": reply_shape}))
        else:
            sock.send(pickle.dumps({"obs": obs, "reply_shape": reply_shape}, protocol=5))
        if not sock.poll(10_000):
            raise TimeoutError(f"{style} server did not answer")
        data = sock.recv()
        if style == "npsave":
            _npload(msgpack.unpackb(data)["actions"])
        else:
            pickle.loads(data)

    return call


def client_websockets(
    port: int, obs: dict, chunk: int, dim: int, stack: contextlib.ExitStack
) -> Call:
    from websockets.sync.client import connect

    ws = stack.enter_context(connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None))
    reply_shape = [len(obs["state"]), chunk, dim]

    def call() -> None:
        ws.send(_pack_arrays({"obs": obs, "reply_shape": reply_shape}))
        _unpack_arrays(ws.recv(timeout=10))

    return call


# -- driver --------------------------------------------------------------------------------------


def start(kind: str, payload: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--payload", payload],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"{kind} server did not start")
    return proc, port


def websockets_available() -> str | None:
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError as err:
        return f"websockets not installed ({err})"
    return None


def measure(call: Call, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99))


def run_payload(payload: str, kinds: list[str], calls: int, repeats: int) -> dict[str, dict]:
    envs, chunk, dim, images = PAYLOADS[payload]
    obs = observations(envs, images)
    clients: dict[str, Call] = {}
    server_times: list[float] = []
    with contextlib.ExitStack() as stack:
        for kind in kinds:
            proc, port = start(kind, payload)
            stack.callback(proc.wait)
            stack.callback(proc.kill)
            if kind == "ours":
                clients[kind] = client_ours(port, obs, chunk, dim, server_times)
            elif kind == "raw":
                clients[kind] = client_raw(port, obs, chunk, dim)
            elif kind in ("npsave", "pickle"):
                clients[kind] = client_reqrep(port, obs, chunk, dim, kind)
            else:
                clients[kind] = client_websockets(port, obs, chunk, dim, stack)
        for call in clients.values():
            measure(call, max(5, calls // 10))  # warm up connections and caches
        medians: dict[str, list[float]] = {k: [] for k in kinds}
        samples: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(repeats):  # interleaved, so drift hits every method alike
            for kind, call in clients.items():
                times = measure(call, calls)
                medians[kind].append(statistics.median(times))
                samples[kind].extend(times)
    results = {k: {"median": statistics.median(medians[k]), "p99": p99(samples[k])} for k in kinds}
    if server_times:
        results["ours"]["server"] = statistics.median(server_times)
    return results


def payload_text(payload: str) -> str:
    envs, chunk, dim, images = PAYLOADS[payload]
    nbytes = sum(a.nbytes for a in observations(envs, images).values())
    parts = f"2x{IMAGE[0]}x{IMAGE[1]}x3 uint8 + " if images else ""
    return (
        f"{envs} env(s): {parts}{STATE} float32 ({nbytes / 1e6:.3g} MB) -> "
        f"{envs}x{chunk}x{dim} float32 ({envs * chunk * dim * 4 / 1e3:.3g} kB)"
    )


def print_table(payload: str, results: dict[str, dict], skipped: dict[str, str]) -> None:
    floor = results["raw"]["median"]
    print(f"\n{payload}: {payload_text(payload)}")
    print(f"  {'method':<52} {'median ms':>10} {'p99 ms':>8} {'x floor':>8}")
    for kind in KINDS:
        if kind in skipped:
            print(f"  {LABELS[kind]:<52} {'skipped: ' + skipped[kind]}")
            continue
        r = results[kind]
        print(
            f"  {LABELS[kind]:<52} {r['median'] * 1e3:>10.3f} {r['p99'] * 1e3:>8.3f} "
            f"{r['median'] / floor:>7.2f}x"
        )
    if "server" in results["ours"]:
        print(f"  ours: server-side policy time (median) {results['ours']['server'] * 1e3:.3f} ms")


def openpi_server_python() -> str | None:
    from pathlib import Path

    python = Path(__file__).resolve().parents[1] / ".venv-openpi" / "bin" / "python"
    return str(python) if python.exists() else None


def start_openpi(python: str) -> tuple[subprocess.Popen, int]:
    """openpi's real WebsocketPolicyServer (openpi-server) serving tests/openpi_serve.py's echo."""
    import urllib.request
    from pathlib import Path

    port = free_port()
    script = Path(__file__).resolve().parents[1] / "tests" / "openpi_serve.py"
    proc = subprocess.Popen(
        [python, str(script), "--port", str(port), "--policy", "echo"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("openpi server did not start") from None
            time.sleep(0.1)


def run_protocols(calls: int, repeats: int) -> dict[str, dict]:
    """GR00T's and openpi's wires against ours on the same content, interleaved repeats."""
    from concurrent.futures import ThreadPoolExecutor

    from arena_eval.remote.gr00t import Gr00tClient
    from arena_eval.remote.openpi import OpenpiConnection

    clients: dict[str, Call] = {}
    with contextlib.ExitStack() as stack:
        proc, port = start("gr00t", "batch")
        stack.callback(proc.wait)
        stack.callback(proc.kill)
        gr00t = Gr00tClient(f"tcp://127.0.0.1:{port}", timeout_s=10.0)
        data = gr00t_batch(GR00T_ENVS)
        clients["gr00t"] = lambda: gr00t.call("get_action", data)
        for payload, envs in (("gr00t", GR00T_ENVS), ("openpi", OPENPI_ENVS)):
            proc, port = start("ours_protocol", payload)
            stack.callback(proc.wait)
            stack.callback(proc.kill)
            client = PolicyClient(f"tcp://127.0.0.1:{port}", timeout_s=10.0)
            client.connect()
            obs, ids = protocol_observations(payload, envs), np.arange(envs)
            clients[f"ours_{payload}"] = lambda c=client, o=obs, i=ids: c.infer(o, i)
        python = openpi_server_python()
        if python:
            proc, port = start_openpi(python)
            stack.callback(proc.wait)
            stack.callback(proc.kill)
            conns = [OpenpiConnection(f"ws://127.0.0.1:{port}") for _ in range(OPENPI_ENVS)]
            for conn in conns:
                conn.connect()
                stack.callback(conn.close)
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=OPENPI_ENVS))
            one = openpi_obs()
            clients["openpi_1"] = lambda: conns[0].infer(one)
            clients["openpi_16"] = lambda: list(pool.map(lambda c: c.infer(one), conns))
        for call in clients.values():
            measure(call, max(5, calls // 10))
        medians: dict[str, list[float]] = {k: [] for k in clients}
        for _ in range(repeats):
            for kind, call in clients.items():
                medians[kind].append(statistics.median(measure(call, calls)))
    return {k: {"median": statistics.median(v)} for k, v in medians.items()}


def print_protocols(results: dict[str, dict]) -> None:
    labels = {
        "gr00t": f"GR00T wire (REQ/REP, .npy in msgpack), {GR00T_ENVS} envs in one request",
        "ours_gr00t": "ours, the same arrays in one request",
        "openpi_1": "openpi wire (websocket, msgpack arrays), 1 env",
        "openpi_16": f"openpi, {OPENPI_ENVS} envs: {OPENPI_ENVS} connections concurrently",
        "ours_openpi": f"ours, the same {OPENPI_ENVS} envs' arrays in one request",
    }
    print(
        f"\nprotocols: GR00T GR1 = {GR00T_ENVS} x ego view {GR00T_IMAGE[0]}x{GR00T_IMAGE[1]}x3 + "
        f"26 states -> {GR00T_ENVS}x{GR00T_HORIZON}x26; openpi LIBERO = 2 x 224x224x3 + 8 "
        f"states -> {OPENPI_H}x{OPENPI_D} per env"
    )
    for kind, label in labels.items():
        if kind in results:
            print(f"  {label:<68} {results[kind]['median'] * 1e3:>9.3f} ms")
        else:
            print(f"  {label:<68} skipped: no .venv-openpi (make setup-openpi)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per method per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--serve", choices=[*KINDS, "gr00t", "ours_protocol"], help=argparse.SUPPRESS
    )
    parser.add_argument("--protocols-only", action="store_true", help="GR00T/openpi rows only")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--payload", choices=[*PAYLOADS, "gr00t", "openpi"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.payload)
        return
    if args.protocols_only:
        print_protocols(run_protocols(args.calls, args.repeats))
        return
    skipped = {}
    if reason := websockets_available():
        skipped["websockets"] = reason
    kinds = [k for k in KINDS if k not in skipped]
    started = time.perf_counter()
    print(
        f"bench_remote: {args.repeats} repeats x {args.calls} calls per method; medians of "
        f"per-repeat medians; p99 over all calls; loopback TCP, {os.cpu_count()} CPUs; "
        f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}"
    )
    all_results = {}
    for payload in PAYLOADS:
        # The small round trip is cheap: give it more calls for a steadier median.
        calls = args.calls if payload == "batch" else args.calls * 5
        all_results[payload] = run_payload(payload, kinds, calls, args.repeats)
        print_table(payload, all_results[payload], skipped)
    print_protocols(run_protocols(args.calls, args.repeats))
    batch, control = all_results["batch"], all_results["control"]
    ours = batch["ours"]["median"]
    speedups = ", ".join(
        f"{batch[k]['median'] / ours:.1f}x faster than {k}"
        for k in kinds
        if k not in ("ours", "raw")
    )
    print(
        f"\nSUMMARY: batch infer {ours * 1e3:.2f} ms median "
        f"({ours / batch['raw']['median']:.2f}x the raw ZMQ floor; {speedups}); "
        f"control loop {control['ours']['median'] * 1e6:.0f} us median "
        f"(floor {control['raw']['median'] * 1e6:.0f} us); "
        f"took {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
