#!/usr/bin/env bash
# Tear down the cluster that start_local_slurm.sh brought up in R: cancel every job, then stop
# slurmd, slurmctld, slurmdbd, mariadbd and munged through their pid files under R.
#
#   stop_local_slurm.sh [--purge] [R]   R defaults to $ARENA_SLURM_ROOT, then /tmp/arena-slurm
#
# R is kept so that the logs can be read afterwards; --purge removes it. Safe to run when
# nothing (or only part of the cluster) is running.
set -euo pipefail

PURGE=0
R=""
for arg in "$@"; do
  case "$arg" in
    --purge) PURGE=1 ;;
    -h | --help)
      sed -n '2,8p' "$0"
      exit 0
      ;;
    -*)
      echo "stop_local_slurm.sh: unknown option '$arg' (expected --purge)" >&2
      exit 2
      ;;
    *) R="$arg" ;;
  esac
done
R="${R:-${ARENA_SLURM_ROOT:-/tmp/arena-slurm}}"
STOP_WAIT_S="${ARENA_SLURM_STOP_WAIT_S:-20}"

log() { printf '[stop_local_slurm] %s\n' "$*" >&2; }

if [[ ! -d "$R" ]]; then
  log "nothing to stop: $R does not exist"
  exit 0
fi
R="$(cd "$R" && pwd -P)"
if [[ ! -e "$R/.arena-slurm" ]]; then
  # Refuse to kill or delete anything in a folder start_local_slurm.sh did not create.
  log "ERROR: $R was not made by start_local_slurm.sh (no .arena-slurm marker); not touching it"
  exit 2
fi
RUN="$R/run"
export SLURM_CONF="$R/etc/slurm.conf"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stop_daemon NAME: SIGTERM, a bounded wait, then SIGKILL.
stop_daemon() {
  local name="$1" pidfile="$RUN/$1.pid" pid deadline
  if ! pid="$(running_pid "$pidfile" "$name")"; then
    rm -f "$pidfile"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_WAIT_S))
  while alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; do
    if ((SECONDS >= deadline)); then
      log "$name did not exit within ${STOP_WAIT_S}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$pidfile"
}

# Same lock as the start script, so a stop never interleaves with a start. Bounded: a stuck
# start must not keep a test session's teardown from finishing.
exec 9>"$R/.lock"
flock -w 120 9 || log "WARNING: $R/.lock still held after 120s; stopping anyway"

# Cancel jobs first, while slurmctld and slurmd can still end them cleanly; otherwise their
# processes would outlive slurmd.
if running_pid "$RUN/slurmctld.pid" slurmctld >/dev/null; then
  mapfile -t jobs < <(timeout 15 squeue -h -o %A 2>/dev/null || true)
  if ((${#jobs[@]} > 0)); then
    log "cancelling ${#jobs[@]} job(s)"
    timeout 15 scancel "${jobs[@]}" 2>/dev/null || true
    deadline=$((SECONDS + STOP_WAIT_S))
    while [[ -n "$(timeout 15 squeue -h -o %A 2>/dev/null || true)" ]] &&
      ((SECONDS < deadline)); do
      sleep 1
    done
  fi
fi

# Reverse order of start: compute node, controller, accounting, its database, then munge which
# all of them use to talk to each other.
stop_daemon slurmd
stop_daemon slurmctld
stop_daemon slurmdbd
stop_daemon mariadbd
stop_daemon munged

if [[ $PURGE -eq 1 ]]; then
  log "removing $R"
  exec 9>&-
  rm -rf -- "$R"
else
  log "stopped; logs kept in $R/log"
fi
