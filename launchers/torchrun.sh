#!/usr/bin/env bash
# One evaluation over several ranks on this node: the episodes are split across ranks and
# rank 0 writes one results.json. Ranks use cuda:LOCAL_RANK when CUDA is present, else the CPU
# with gloo.
#   launchers/torchrun.sh 2 env=lift_object policy=scripted length=episodes length.n=40
set -euo pipefail
nproc="${1:?usage: torchrun.sh NPROC [hydra overrides...]}"
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
torchrun_exe="$here/.venv/bin/torchrun"
[[ -x "$torchrun_exe" ]] || torchrun_exe="torchrun"
exec "$torchrun_exe" --standalone --nproc_per_node="$nproc" -m arena_eval distributed=true "$@"
