#!/usr/bin/env bash
# Serve a policy over ZMQ for evaluations in other processes or machines.
#   launchers/policy_server.sh policy=scripted env=lift_object embodiment=franka_ik server.port=5555
# Binds 127.0.0.1 unless told otherwise; another address needs CURVE keys
# (arena-eval-server keygen KEYDIR NAME; server.secret_key_file=..., server.allowed_clients=...)
# or server.insecure=true. Extra arguments are Hydra overrides for conf/server.yaml.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${ARENA_EVAL_SERVER:-$here/.venv/bin/arena-eval-server}"
[[ -x "$exe" ]] || exe="arena-eval-server"
exec "$exe" "$@"
