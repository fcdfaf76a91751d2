#!/usr/bin/env bash
# Idempotent host preparation for developing / testing "actors".
#
#   * installs missing Debian packages (redis-server, docker.io, debootstrap, and chromium
#     with chromium-driver for the dashboard's browser tests)
#   * starts dockerd if the daemon does not answer, and waits for it
#   * builds the offline base image $ACTORS_BASE_IMAGE (default actors-base:bookworm)
#     with debootstrap, so nothing has to be pulled from a registry
#   * creates .venv and installs the project (-e '.[test]') into it
#
# A second run on a prepared host does nothing but a few quick checks.
#
# Environment knobs (all optional):
#   ACTORS_BASE_IMAGE      image tag of the offline base image   (actors-base:bookworm)
#   ACTORS_BASE_SUITE      Debian suite for debootstrap          (bookworm)
#   ACTORS_DEBIAN_MIRROR   override the mirror; default: first "URIs:" line of
#                          /etc/apt/sources.list.d/debian.sources (read at run time)
#   ACTORS_DOCKER_TIMEOUT  seconds to wait for dockerd           (60)
#   ACTORS_DOCKERD_LOG     dockerd log file when we start it     (/tmp/dockerd.log)
#   PYTHON                 interpreter used to create .venv       (python3)
#   ACTORS_SKIP_APT=1 / ACTORS_SKIP_DOCKER=1 / ACTORS_SKIP_VENV=1  skip a step
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BASE_IMAGE="${ACTORS_BASE_IMAGE:-actors-base:bookworm}"
SUITE="${ACTORS_BASE_SUITE:-bookworm}"
DOCKER_TIMEOUT="${ACTORS_DOCKER_TIMEOUT:-60}"
DOCKERD_LOG="${ACTORS_DOCKERD_LOG:-/tmp/dockerd.log}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.actors-install-stamp"
PACKAGES=(redis-server docker.io debootstrap chromium chromium-driver)

log() { printf '[host-setup] %s\n' "$*"; }
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
die() { printf '[host-setup] ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
    # Never prompt when there is no terminal (CI): fail instead of hanging.
    [ -t 0 ] || SUDO=(sudo -n)
else
    SUDO=()
fi
as_root() {
    if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
        die "need root for: $* (run as root or install sudo)"
    fi
    "${SUDO[@]}" "$@"
}

# Serialise concurrent runs (e.g. `make test` and `make run` started together).
# fd 9 must never leak into long-lived children (dockerd), see ensure_docker.
LOCK_FILE="${TMPDIR:-/tmp}/actors-host-setup-$(id -u).lock"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK_FILE"
    if ! flock -n 9; then
        log "another host-setup run holds $LOCK_FILE; waiting"
        flock -w "${ACTORS_SETUP_LOCK_TIMEOUT:-900}" 9 || die "timed out waiting for $LOCK_FILE"
    fi
fi

# --------------------------------------------------------------------------
# 1. Debian packages
# --------------------------------------------------------------------------
ensure_packages() {
    [ "${ACTORS_SKIP_APT:-0}" = 1 ] && return 0
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "not a Debian/Ubuntu host; skipping package installation"
        return 0
    fi
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "packages present: ${PACKAGES[*]}"
        return 0
    fi
    log "installing missing packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null
}

# --------------------------------------------------------------------------
# 2. Docker daemon
# --------------------------------------------------------------------------
docker_ok() { docker info >/dev/null 2>&1; }

dockerd_running() {
    local pid
    if [ -r /var/run/docker.pid ]; then
        pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 0
    fi
    pgrep -x dockerd >/dev/null 2>&1
}

ensure_docker() {
    [ "${ACTORS_SKIP_DOCKER:-0}" = 1 ] && return 0
    command -v docker >/dev/null 2>&1 || die "docker CLI not found (package docker.io)"
    if docker_ok; then
        log "docker daemon is up"
        return 0
    fi
    if dockerd_running; then
        log "dockerd is running but not answering yet; waiting"
    elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        log "starting docker via systemd"
        as_root systemctl start docker 9>&- || true
    else
        local dockerd
        dockerd="$(command -v dockerd || echo /usr/sbin/dockerd)"
        [ -x "$dockerd" ] || die "dockerd not found (package docker.io)"
        log "starting $dockerd in the background (log: $DOCKERD_LOG)"
        # 9>&- : do not hand our lock fd to the daemon (it would hold the lock forever).
        as_root sh -c "setsid '$dockerd' >>'$DOCKERD_LOG' 2>&1 </dev/null 9>&- &" 9>&-
    fi
    local waited=0
    until docker_ok; do
        if [ "$waited" -ge "$DOCKER_TIMEOUT" ]; then
            if [ -S /var/run/docker.sock ] && as_root docker info >/dev/null 2>&1; then
                die "dockerd runs but user $(id -un) cannot use /var/run/docker.sock; add it to group 'docker' (usermod -aG docker $(id -un)) and log in again"
            fi
            [ -r "$DOCKERD_LOG" ] && tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "docker daemon did not answer within ${DOCKER_TIMEOUT}s (see $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "docker daemon is up (waited ${waited}s)"
}

# --------------------------------------------------------------------------
# 3. Offline base image (debootstrap + docker import, no registry needed)
# --------------------------------------------------------------------------
debian_mirror() {
    local m="${ACTORS_DEBIAN_MIRROR:-}"
    if [ -z "$m" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
        m="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
        m="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
    fi
    printf '%s' "$m"
}

BUILD_DIR=""
cleanup_build_dir() {
    [ -n "$BUILD_DIR" ] && [ -d "$BUILD_DIR" ] || return 0
    # debootstrap mounts proc/sys inside the target; never rm -rf through a mount.
    local mnt
    { findmnt -rn -o TARGET 2>/dev/null | grep -F "$BUILD_DIR/" | sort -r || true; } | while read -r mnt; do
        as_root umount -l "$mnt" || true
    done
    as_root rm -rf --one-file-system "$BUILD_DIR" || true
    BUILD_DIR=""
}

ensure_base_image() {
    [ "${ACTORS_SKIP_DOCKER:-0}" = 1 ] && return 0
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "base image $BASE_IMAGE present"
        return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (package debootstrap)"
    local mirror
    mirror="$(debian_mirror)"
    [ -n "$mirror" ] || die "could not determine a Debian mirror (no URIs: line in /etc/apt/sources.list.d/debian.sources); set ACTORS_DEBIAN_MIRROR"

    local start=$SECONDS
    BUILD_DIR="$(mktemp -d "${ACTORS_BUILD_TMP:-/var/tmp}/actors-base.XXXXXX")"
    trap cleanup_build_dir EXIT
    log "building $BASE_IMAGE: debootstrap --variant=minbase --include=python3 $SUITE from $mirror (a few minutes; progress every ${ACTORS_PROGRESS_INTERVAL:-10}s)"
    if ! run_with_progress "[host-setup]" "debootstrap" "$BUILD_DIR.log" \
            as_root debootstrap --variant=minbase --include=python3 "$SUITE" "$BUILD_DIR" "$mirror"; then
        tail -n 30 "$BUILD_DIR.log" >&2 || true
        die "debootstrap failed (full log: $BUILD_DIR.log)"
    fi
    rm -f "$BUILD_DIR.log"
    # Trim caches; provide `python` like the python:*-slim images do.
    as_root sh -c "rm -rf '$BUILD_DIR'/var/cache/apt/archives/*.deb '$BUILD_DIR'/var/lib/apt/lists/* '$BUILD_DIR'/var/log/*.log '$BUILD_DIR'/var/cache/debconf/*-old"
    [ -e "$BUILD_DIR/usr/bin/python" ] || as_root ln -s python3 "$BUILD_DIR/usr/bin/python"

    log "importing rootfs as $BASE_IMAGE (tar | docker import)"
    as_root tar --numeric-owner -C "$BUILD_DIR" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PYTHONUNBUFFERED=1' \
        --change 'CMD ["python3"]' \
        --message "actors offline base: debian $SUITE minbase + python3" \
        - "$BASE_IMAGE" >/dev/null
    cleanup_build_dir
    trap - EXIT
    log "built $BASE_IMAGE in $((SECONDS - start))s"
}

# --------------------------------------------------------------------------
# 4. Python virtualenv
# --------------------------------------------------------------------------
ensure_venv() {
    [ "${ACTORS_SKIP_VENV:-0}" = 1 ] && return 0
    if [ ! -x "$VENV/bin/python" ]; then
        command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; set PYTHON=/path/to/python3"
        log "creating $VENV with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV"
        rm -f "$STAMP"
    fi
    local need=0 f
    [ -f "$STAMP" ] || need=1
    for f in setup.py setup.cfg pyproject.toml; do
        [ -f "$f" ] && [ "$f" -nt "$STAMP" ] && need=1
    done
    if [ "$need" -eq 0 ]; then
        log "virtualenv up to date ($VENV)"
        return 0
    fi
    log "installing project into $VENV (pip install -e '.[test]'; about a minute, progress every ${ACTORS_PROGRESS_INTERVAL:-10}s)"
    local pip_log="$VENV/.actors-install.log"
    if ! run_with_progress "[host-setup]" "pip install" "$pip_log" \
            "$VENV/bin/python" -m pip install --disable-pip-version-check -e '.[test]'; then
        tail -n 40 "$pip_log" >&2 || true
        die "pip install -e '.[test]' failed (full log: $pip_log)"
    fi
    touch "$STAMP"
}

ensure_packages
ensure_docker
ensure_base_image
ensure_venv
log "host ready"
