#!/usr/bin/env bash
# Bring up a private single-node SLURM cluster with accounting (munged, MariaDB, slurmdbd,
# slurmctld, slurmd) for tests. Every file it writes lives under one folder R:
#
#   start_local_slurm.sh [R]        R defaults to $ARENA_SLURM_ROOT, then /tmp/arena-slurm
#   eval "$(start_local_slurm.sh)"  sets SLURM_CONF in the calling shell
#
# Idempotent: a daemon that is already running is left alone, so a second run only prints the
# export line, and a run after stop_local_slurm.sh restarts on the state kept in R.
# Progress goes to stderr; stdout carries only the final `export SLURM_CONF=...` line.
# Exit codes: 0 up, 1 a daemon failed to come up, 2 R is someone else's folder, 3 not root,
# 4 the packages cannot be installed.
set -euo pipefail

CLUSTER_NAME=arena
DB_PORT="${ARENA_SLURM_DB_PORT:-3307}"
DB_NAME=slurm_acct_db
DB_USER=slurm
WAIT_S="${ARENA_SLURM_WAIT_S:-60}"

if [[ $EUID -ne 0 ]]; then
  echo "[start_local_slurm] ERROR: must run as root (it installs packages, and the daemons" \
    "run as root with SlurmUser=root); got uid $EUID" >&2
  exit 3
fi

R="${1:-${ARENA_SLURM_ROOT:-/tmp/arena-slurm}}"
if [[ -d "$R" && ! -e "$R/.arena-slurm" && -n "$(ls -A "$R")" ]]; then
  # The stop script may delete R (--purge): never adopt a folder that holds someone else's files.
  echo "[start_local_slurm] ERROR: $R is not empty and was not made by this script;" \
    "pick an empty or new folder" >&2
  exit 2
fi
mkdir -p "$R"
# Marks R as ours so that `stop_local_slurm.sh --purge` never removes a folder it did not make.
: >"$R/.arena-slurm"
# munged and slurm resolve paths from several processes and cwds: keep everything absolute.
R="$(cd "$R" && pwd -P)"

ETC="$R/etc"
RUN="$R/run"
LOG="$R/log"
MUNGE_DIR="$R/munge"
MUNGE_SOCKET_DIR="$MUNGE_DIR/socket"
MUNGE_SOCKET="$MUNGE_SOCKET_DIR/munge.socket.2"
MUNGE_KEY="$MUNGE_DIR/munge.key"
DB_DIR="$R/mysql"
DB_DATA="$DB_DIR/data"
DB_SOCKET="$DB_DIR/mysqld.sock"
STATE_DIR="$R/state"
SPOOL_DIR="$R/spool"
export SLURM_CONF="$ETC/slurm.conf"

log() { printf '[start_local_slurm] %s\n' "$*" >&2; }

# Print what went wrong and the end of the log that explains it, then stop.
die() {
  local message="$1" logfile="${2:-}"
  log "ERROR: $message"
  if [[ -n "$logfile" && -f "$logfile" ]]; then
    log "last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
  fi
  exit 1
}

# Files we create must not be group/other writable: munged refuses insecure key/socket paths.
umask 022

# --- packages ---------------------------------------------------------------------------------

REQUIRED_COMMANDS=(munged mungekey mariadbd mariadb-install-db mariadb mariadb-admin slurmdbd
  slurmctld slurmd sbatch sinfo sacct sacctmgr scontrol scancel squeue)

missing_commands() {
  local cmd
  for cmd in "${REQUIRED_COMMANDS[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || printf '%s ' "$cmd"
  done
}

POLICY_RC=/usr/sbin/policy-rc.d

install_packages() {
  local missing
  missing="$(missing_commands)"
  [[ -z "$missing" ]] && return 0
  log "installing SLURM, munge and MariaDB with apt (missing: $missing)"
  # The packages' postinst scripts would start system-wide munge/mariadb/slurm daemons on the
  # default ports and paths; a policy-rc.d that answers 101 keeps them from starting.
  # It goes away on any exit, Ctrl-C included, so that later service installs behave normally.
  if [[ ! -e "$POLICY_RC" ]]; then
    trap 'rm -f "$POLICY_RC"' EXIT
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
  fi
  local rc=0
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 \
        slurmctld slurmd slurm-client munge slurmdbd mariadb-server mariadb-client
  } >"$LOG/apt.log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    log "ERROR: apt-get failed (exit $rc); last lines of $LOG/apt.log:"
    tail -n 20 "$LOG/apt.log" >&2 || true
    exit 4
  fi
  missing="$(missing_commands)"
  if [[ -n "$missing" ]]; then
    log "ERROR: still missing after apt install: $missing"
    exit 4
  fi
}

# --- helpers ----------------------------------------------------------------------------------

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# wait_for SECONDS DESCRIPTION LOGFILE COMMAND...: poll COMMAND once a second.
wait_for() {
  local seconds="$1" what="$2" logfile="$3"
  shift 3
  local deadline=$((SECONDS + seconds))
  # Each probe is bounded too: a SLURM client keeps retrying a controller that does not answer.
  until timeout 15 "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what did not come up within ${seconds}s" "$logfile"
    fi
    sleep 1
  done
}

node_state() { timeout 15 sinfo -h -o %T 2>/dev/null | head -n 1; }

node_is_usable() {
  local state
  state="$(node_state)"
  [[ "$state" == idle || "$state" == mixed || "$state" == allocated ]]
}

all_up() {
  is_running "$RUN/munged.pid" munged &&
    is_running "$RUN/mariadbd.pid" mariadbd &&
    is_running "$RUN/slurmdbd.pid" slurmdbd &&
    is_running "$RUN/slurmctld.pid" slurmctld &&
    is_running "$RUN/slurmd.pid" slurmd &&
    node_is_usable
}

# --- layout and configuration -----------------------------------------------------------------

make_layout() {
  mkdir -p "$ETC" "$RUN" "$LOG" "$STATE_DIR" "$SPOOL_DIR" "$DB_DIR"
  # munged checks modes: the key folder private, the socket folder 0711 so that clients can reach
  # the socket but not list or write the folder.
  # The key folder is not listable (0711) but traversable, since the socket folder sits inside.
  mkdir -p "$MUNGE_DIR" "$MUNGE_SOCKET_DIR"
  chmod 0755 "$R"
  chmod 0711 "$MUNGE_DIR" "$MUNGE_SOCKET_DIR"
}

# Replace a file only when its content changes, so running daemons never see a half-written one.
write_file() {
  local path="$1" mode="$2" tmp
  tmp="$(mktemp "$path.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -f "$path" ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod "$mode" "$path"
  else
    mv -f "$tmp" "$path"
  fi
}

db_password() {
  # Generated once and kept, so that a restart matches the user already stored in MariaDB.
  local file="$ETC/db.password"
  if [[ ! -s "$file" ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$file")
  fi
  cat "$file"
}

write_configs() {
  local cpus real_mem_mb mem_kb
  cpus="$(nproc)"
  mem_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
  # Leave 1 GiB to the OS and the daemons: slurmd drains a node whose real memory is below this.
  real_mem_mb=$((mem_kb / 1024 - 1024))
  ((real_mem_mb > 256)) || real_mem_mb=256

  write_file "$ETC/slurm.conf" 0644 <<EOF
# Generated by launchers/slurm/start_local_slurm.sh; rewritten on every start.
ClusterName=$CLUSTER_NAME
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# No cgroups in the sandbox: track processes through /proc and bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# A node that was down (e.g. after a restart) returns to service as soon as it registers.
ReturnToService=2
# Trust the node line below over what slurmd detects, so a sandbox's odd topology never drains it.
SlurmdParameters=config_overrides
# submitit's jobs ignore SIGTERM; a short KillWait makes cancelled jobs end in seconds, not 30 s.
KillWait=5
# Loaded CI machines answer slowly; the default 10 s gives spurious "timed out" errors.
MessageTimeout=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
# With a munge socket outside the default path, this is how slurmctld reaches munge for slurmdbd.
AccountingStoragePass=$MUNGE_SOCKET
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

  # slurmdbd refuses a config readable by others because it holds the database password.
  write_file "$ETC/slurmdbd.conf" 0600 <<EOF
# Generated by launchers/slurm/start_local_slurm.sh; rewritten on every start.
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
# 127.0.0.1, not localhost: the MySQL client turns "localhost" into the default unix socket,
# which is not ours.
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=$DB_USER
StoragePass=$(db_password)
StorageLoc=$DB_NAME
EOF
}

# --- daemons ----------------------------------------------------------------------------------

start_munged() {
  if is_running "$RUN/munged.pid" munged; then return 0; fi
  if [[ ! -s "$MUNGE_KEY" ]]; then
    log "creating munge key"
    mungekey --create --keyfile="$MUNGE_KEY" >&2
  fi
  chmod 0400 "$MUNGE_KEY"
  log "starting munged"
  # munged forks into the background itself; no std streams are left attached to the caller.
  munged --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$RUN/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
    </dev/null 9>&- >>"$LOG/munged.log" 2>&1 ||
    die "munged failed to start" "$LOG/munged.log"
  wait_for "$WAIT_S" munged "$LOG/munged.log" munge -n -S "$MUNGE_SOCKET"
}

start_mariadb() {
  if ! is_running "$RUN/mariadbd.pid" mariadbd; then
    if [[ ! -d "$DB_DATA/mysql" ]]; then
      log "initialising MariaDB in $DB_DATA"
      mariadb-install-db --no-defaults --user=root --datadir="$DB_DATA" \
        --auth-root-authentication-method=socket --skip-test-db \
        >>"$LOG/mariadb-install.log" 2>&1 ||
        die "mariadb-install-db failed" "$LOG/mariadb-install.log"
    fi
    log "starting mariadbd on 127.0.0.1:$DB_PORT"
    # mariadbd stays in the foreground: detach it and point its streams at the log, otherwise a
    # caller that captures our output (subprocess.run) would wait for it forever.
    # --no-defaults keeps /etc/mysql's system-wide settings (port 3306, /run/mysqld) out.
    # slurmdbd asks for a 900 s lock wait; its wish for a >=512M buffer pool only logs an error
    # and is not worth the memory for a test cluster.
    setsid mariadbd --no-defaults --user=root --datadir="$DB_DATA" --socket="$DB_SOCKET" \
      --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$RUN/mariadbd.pid" \
      --log-error="$LOG/mariadb.log" --skip-name-resolve --innodb-lock-wait-timeout=900 \
      </dev/null 9>&- >>"$LOG/mariadb.log" 2>&1 &
    wait_for "$WAIT_S" mariadbd "$LOG/mariadb.log" \
      mariadb-admin --no-defaults --socket="$DB_SOCKET" --user=root ping
  fi
  # Accounting database and its user: safe to repeat, and it repairs a half-finished first run.
  local password
  password="$(db_password)"
  if ! mariadb --no-defaults --socket="$DB_SOCKET" --user=root <<EOF; then
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
EOF
    die "could not create the accounting database" "$LOG/mariadb.log"
  fi
}

start_slurmdbd() {
  if ! is_running "$RUN/slurmdbd.pid" slurmdbd; then
    log "starting slurmdbd"
    # slurmdbd finds slurmdbd.conf next to $SLURM_CONF.
    slurmdbd </dev/null 9>&- >>"$LOG/slurmdbd.out" 2>&1 || die "slurmdbd failed to start" "$LOG/slurmdbd.log"
  fi
  # The first start creates the tables, which takes a few seconds on a slow disk.
  wait_for "$WAIT_S" slurmdbd "$LOG/slurmdbd.log" sacctmgr -n -P list cluster
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER_NAME"; then
    log "registering cluster '$CLUSTER_NAME' in accounting"
    sacctmgr -i add cluster "$CLUSTER_NAME" >&2 || die "sacctmgr add cluster failed" "$LOG/slurmdbd.log"
  fi
}

start_slurmctld() {
  if is_running "$RUN/slurmctld.pid" slurmctld; then return 0; fi
  log "starting slurmctld"
  slurmctld </dev/null 9>&- >>"$LOG/slurmctld.out" 2>&1 || die "slurmctld failed to start" "$LOG/slurmctld.log"
  wait_for "$WAIT_S" slurmctld "$LOG/slurmctld.log" scontrol ping
}

start_slurmd() {
  if is_running "$RUN/slurmd.pid" slurmd; then return 0; fi
  log "starting slurmd"
  # -N: the machine's hostname is not "localhost", the node's name in slurm.conf.
  slurmd -N localhost </dev/null 9>&- >>"$LOG/slurmd.out" 2>&1 || die "slurmd failed to start" "$LOG/slurmd.log"
}

wait_for_idle_node() {
  local deadline=$((SECONDS + WAIT_S)) state resumed=0
  while :; do
    state="$(node_state)"
    if node_is_usable; then
      log "node localhost is $state"
      return 0
    fi
    # A node left DOWN/DRAINED by an unclean earlier stop does not come back by itself.
    if [[ $resumed -eq 0 && ("$state" == down* || "$state" == drain*) ]]; then
      log "node is $state; resuming it"
      scontrol update nodename=localhost state=resume >&2 || true
      resumed=1
    fi
    if ((SECONDS >= deadline)); then
      scontrol show node localhost >&2 || true
      die "node localhost is '${state:-unknown}', not idle, after ${WAIT_S}s" "$LOG/slurmd.log"
    fi
    sleep 1
  done
}

# --- main -------------------------------------------------------------------------------------

mkdir -p "$LOG"
# Two starts at once (e.g. two pytest sessions) would race on the same pid files and ports.
# Every daemon is started with `9>&-`: a daemon that inherited fd 9 would hold the lock forever.
exec 9>"$R/.lock"
flock -w 300 9 || die "another start/stop holds $R/.lock"

install_packages
make_layout
write_configs

if all_up; then
  log "already up in $R"
else
  start_munged
  start_mariadb
  start_slurmdbd
  start_slurmctld
  start_slurmd
  wait_for_idle_node
  log "up in $R (logs in $LOG)"
fi

printf 'export SLURM_CONF=%s\n' "$SLURM_CONF"
