#!/usr/bin/env bash
# Helpers shared by start_local_slurm.sh and stop_local_slurm.sh (sourced, not run).

# A dead daemon stays a zombie, with its /proc entry and name, until someone reaps it; the init
# of this sandbox reaps late, so a zombie must count as stopped.
alive() {
  local stat state
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  state="${stat##*) }"
  [[ "${state%% *}" != [ZX] ]]
}

# A pid file counts only if its process is alive AND is the expected program: after a reboot or a
# SIGKILL the number may have been reused by something else.
running_pid() {
  local pidfile="$1" name="$2" pid comm
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  alive "$pid" || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
  [[ "$comm" == "$name" ]] || return 1
  printf '%s\n' "$pid"
}

is_running() { running_pid "$@" >/dev/null; }
