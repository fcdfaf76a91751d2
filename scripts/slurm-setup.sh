#!/usr/bin/env bash
# Idempotent: a one-node Slurm cluster on this machine, for the Slurm runtime's tests and for
# trying `actors spawner --runtime slurm` without a real cluster.
#
#   * installs missing Debian packages: slurmctld slurmd slurm-client munge, and slurmdbd with
#     mariadb-server so that `sacct` has accounting to read (CPU time, max RSS, I/O)
#   * starts munged, MariaDB and slurmdbd, registers the cluster with sacctmgr
#   * writes /etc/slurm/slurm.conf for this one node (its real CPUs and memory, from
#     `slurmd -C`), starts slurmctld and slurmd, and waits until the node is idle
#
# A second run on a prepared host only checks that the daemons answer. Exit status 0 means
# `sbatch` works now; anything else printed the reason (the tests then skip, or fail in CI).
#
# The cluster is deliberately plain: memory is a consumable resource confined by task/cgroup
# (cgroup v1) where the host has a memory controller, so a job over --mem ends OUT_OF_MEMORY;
# a job without --mem gets 1 GiB per CPU (not the whole node, which would run jobs one at a
# time); KillWait=5 so that scancel takes effect quickly; cred_expire=15 so that a requeued job
# may start again after 15 s rather than Slurm's default 120, and the schedulers' periodic
# passes every 5 s (not 60 and 30) so that it does.
#
# Environment knobs (all optional):
#   ACTORS_SLURM_CLUSTER   cluster name                             (actors)
#   ACTORS_SLURM_TIMEOUT   seconds to wait for each daemon and the node (60)
#   ACTORS_SKIP_APT=1      do not install packages
set -euo pipefail

CLUSTER="${ACTORS_SLURM_CLUSTER:-actors}"
TIMEOUT="${ACTORS_SLURM_TIMEOUT:-60}"
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm
DB_PASSWORD_FILE=/etc/slurm/.actors-db-password

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[slurm-setup] %s\n' "$*"; }
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
die() { printf '[slurm-setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (it installs packages and starts system daemons)"

LOCK_FILE="${TMPDIR:-/tmp}/actors-slurm-setup.lock"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK_FILE"
    flock -w 600 9 || die "timed out waiting for $LOCK_FILE"
fi

# Every daemon we start must not inherit the lock descriptor.
daemon() { setsid "$@" </dev/null >/dev/null 2>&1 9>&- & }

wait_for() {  # wait_for DESCRIPTION COMMAND...
    local what="$1" waited=0
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$waited" -ge "$TIMEOUT" ] && return 1
        sleep 1
        waited=$((waited + 1))
    done
    log "$what (waited ${waited}s)"
}

# --------------------------------------------------------------------------
ensure_packages() {
    [ "${ACTORS_SKIP_APT:-0}" = 1 ] && return 0
    command -v dpkg-query >/dev/null 2>&1 || die "not a Debian/Ubuntu host: install Slurm yourself"
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && { log "packages present"; return 0; }
    log "installing: ${missing[*]}"
    local apt_log="${TMPDIR:-/tmp}/actors-slurm-apt.log"
    run_with_progress "[slurm-setup]" "apt-get install" "$apt_log" sh -c \
        'env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
         env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"' apt "${missing[@]}" \
        || { tail -n 20 "$apt_log" >&2; die "could not install ${missing[*]} (see $apt_log)"; }
}

ensure_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged answers"
        return 0
    fi
    [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || create-munge-key -f; }
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    daemon runuser -u munge -- /usr/sbin/munged
    wait_for "munged started" sh -c 'munge -n | unmunge' || die "munged did not start"
}

ensure_database() {
    if ! mysqladmin ping >/dev/null 2>&1; then
        install -d -o mysql -g mysql /run/mysqld
        daemon /usr/bin/mysqld_safe
        wait_for "mariadb started" mysqladmin ping || die "mariadb did not start"
    fi
    if [ ! -s "$DB_PASSWORD_FILE" ]; then
        head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DB_PASSWORD_FILE"
        chmod 0600 "$DB_PASSWORD_FILE"
    fi
    local password
    password="$(cat "$DB_PASSWORD_FILE")"
    mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
              CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$password';
              ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$password';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

stop_daemon() {  # stop_daemon NAME: SIGTERM, then wait until it has exited (state saved)
    pkill -x "$1" || return 0
    local waited=0
    while pgrep -x "$1" >/dev/null && [ "$waited" -lt "$TIMEOUT" ]; do
        sleep 1
        waited=$((waited + 1))
    done
}

write_if_changed() {  # write_if_changed PATH MODE OWNER < content; returns 0 if it changed
    local path="$1" mode="$2" owner="$3" scratch
    scratch="$(mktemp)"
    cat >"$scratch"
    if [ -f "$path" ] && cmp -s "$scratch" "$path"; then
        rm -f "$scratch"
        return 1
    fi
    install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$scratch" "$path"
    rm -f "$scratch"
    return 0
}

ensure_slurmdbd() {
    local changed=0
    write_if_changed "$CONF_DIR/slurmdbd.conf" 0600 slurm:slurm <<EOF && changed=1
# Written by actors' scripts/slurm-setup.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$(cat "$DB_PASSWORD_FILE")
StorageLoc=slurm_acct_db
EOF
    if [ "$changed" = 1 ] && pgrep -x slurmdbd >/dev/null; then
        stop_daemon slurmdbd
    fi
    if ! pgrep -x slurmdbd >/dev/null; then
        daemon /usr/sbin/slurmdbd
    fi
    wait_for "slurmdbd answers" sacctmgr -n list cluster || die "slurmdbd did not start (see $LOG_DIR/slurmdbd.log)"
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
        log "registered cluster $CLUSTER with slurmdbd"
    fi
}

# With a cgroup v1 memory controller, task/cgroup confines each job's memory and Slurm sees
# the kernel's OOM kill (state OUT_OF_MEMORY). Without one, plain process tracking, and
# jobacct_gather kills a job over its memory (state FAILED, signal 9: no OUT_OF_MEMORY).
isolation() {
    if [ -d /sys/fs/cgroup/memory ]; then
        printf '%s\n' ProctrackType=proctrack/cgroup TaskPlugin=task/cgroup
    else
        printf '%s\n' ProctrackType=proctrack/linuxproc TaskPlugin=task/none \
            JobAcctGatherParams=OverMemoryKill
    fi
}

NODE=""
CONF_CHANGED=0
write_slurm_conf() {  # before slurmdbd: sacctmgr reads slurm.conf too
    NODE="$(slurmd -C | head -n 1)"   # NodeName=<host> CPUs=... RealMemory=...
    case "$NODE" in NodeName=*) ;; *) die "slurmd -C printed no node line: $NODE" ;; esac
    install -d -o slurm -g slurm "$LOG_DIR" "$STATE_DIR/slurmctld"
    install -d "$STATE_DIR/slurmd"
    if [ -d /sys/fs/cgroup/memory ]; then
        write_if_changed "$CONF_DIR/cgroup.conf" 0644 root:root <<EOF && CONF_CHANGED=1
# Written by actors' scripts/slurm-setup.sh
CgroupPlugin=cgroup/v1
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
EOF
    fi
    write_if_changed "$CONF_DIR/slurm.conf" 0644 root:root <<EOF && CONF_CHANGED=1
# Written by actors' scripts/slurm-setup.sh: one node.
ClusterName=$CLUSTER
SlurmctldHost=$(hostname -s)
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=15
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
$(isolation)
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmdTimeout=30
$NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    return 0
}

ensure_slurm() {
    if [ "$CONF_CHANGED" = 1 ]; then
        log "wrote $CONF_DIR/slurm.conf ($NODE)"
        stop_daemon slurmctld
        stop_daemon slurmd
    fi
    if ! pgrep -x slurmctld >/dev/null; then
        daemon /usr/sbin/slurmctld
    fi
    wait_for "slurmctld answers" scontrol ping || die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
    if ! pgrep -x slurmd >/dev/null; then
        daemon /usr/sbin/slurmd
    fi
    local name="${NODE#NodeName=}"
    name="${name%% *}"
    # A node left DOWN or DRAINED by an earlier run (or a test) is put back to service.
    if sinfo -h -n "$name" -o %T | grep -Eq 'down|drain'; then
        scontrol update nodename="$name" state=resume || true
    fi
    wait_for "node $name is idle" sh -c "sinfo -h -n '$name' -o %T | grep -Eq '^(idle|mixed|allocated)'" \
        || die "node $name did not become idle: $(sinfo -h -n "$name" -o '%T %E') (see $LOG_DIR/slurmd.log)"
}

ensure_packages
ensure_munge
ensure_database
write_slurm_conf
ensure_slurmdbd
ensure_slurm
log "slurm ready: $(sinfo -h -o '%P %D %T %c CPUs %m MB')"
