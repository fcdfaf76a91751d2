#!/usr/bin/env bash
# Build every example actor image: images/NAME/Dockerfile -> actors/NAME:latest.
#
# The build context is the REPOSITORY ROOT (images COPY runtime_sdk/ from it);
# .dockerignore keeps that context small.  The Dockerfiles declare
#   ARG BASE_IMAGE=python:3.12-slim
#   FROM ${BASE_IMAGE}
# and we pass the offline base image built by scripts/host-setup.sh, so no
# registry is needed.  Usage: build-images.sh [NAME...]  (default: all images)
#
# Environment: ACTORS_BASE_IMAGE (default actors-base:bookworm),
#              ACTORS_IMAGE_PREFIX (default actors), ACTORS_IMAGE_TAG (default latest)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BASE_IMAGE="${ACTORS_BASE_IMAGE:-actors-base:bookworm}"
PREFIX="${ACTORS_IMAGE_PREFIX:-actors}"
TAG="${ACTORS_IMAGE_TAG:-latest}"

log() { printf '[build-images] %s\n' "$*"; }
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

shopt -s nullglob
if [ "$#" -gt 0 ]; then
    dockerfiles=()
    for name in "$@"; do
        [ -f "images/$name/Dockerfile" ] || die "no such image: images/$name/Dockerfile"
        dockerfiles+=("images/$name/Dockerfile")
    done
else
    dockerfiles=(images/*/Dockerfile)
fi

if [ "${#dockerfiles[@]}" -eq 0 ]; then
    log "no images/*/Dockerfile found; nothing to build"
    exit 0
fi

docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
    || die "base image $BASE_IMAGE is missing; run scripts/host-setup.sh first"

build_log="$(mktemp "${TMPDIR:-/tmp}/actors-build-images.XXXXXX")"
trap 'rm -f "$build_log"' EXIT

index=0
for df in "${dockerfiles[@]}"; do
    index=$((index + 1))
    name="$(basename "$(dirname "$df")")"
    tag="$PREFIX/$name:$TAG"
    start=$SECONDS
    # An image may stage files first (e.g. vendored pure-Python packages): images/NAME/prepare.sh
    if [ -f "images/$name/prepare.sh" ]; then
        log "preparing $tag (images/$name/prepare.sh)"
        run_with_progress "[build-images]" "images/$name/prepare.sh" "$build_log" \
            bash "images/$name/prepare.sh" \
            || { cat "$build_log" >&2; die "images/$name/prepare.sh failed"; }
    fi
    log "building $tag from $df ($index of ${#dockerfiles[@]})"
    if ! run_with_progress "[build-images]" "$tag" "$build_log" \
            docker build -f "$df" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$tag" .; then
        cat "$build_log" >&2
        die "building $tag from $df failed"
    fi
    id="$(docker image inspect -f '{{.Id}}' "$tag")"
    log "built $tag  ${id#sha256:}  ($((SECONDS - start))s, from $df on $BASE_IMAGE)"
done
