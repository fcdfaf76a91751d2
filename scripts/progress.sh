# Sourced by the set-up scripts: run a long step with a line of progress every few seconds,
# so that nobody stares at a silent terminal for a minute.
#
#   run_with_progress PREFIX LABEL LOGFILE COMMAND [ARGS...]
#
# Runs COMMAND with its output in LOGFILE and, every ACTORS_PROGRESS_INTERVAL seconds
# (default 10), prints "PREFIX LABEL: still running (Ns) ... <last line of its output>".
# Returns COMMAND's exit status.
run_with_progress() {
    local prefix="$1" label="$2" logfile="$3"
    shift 3
    local interval="${ACTORS_PROGRESS_INTERVAL:-10}" start=$SECONDS pid rc last
    "$@" >"$logfile" 2>&1 </dev/null &
    pid=$!
    while true; do
        local waited=0
        while [ "$waited" -lt "$interval" ] && kill -0 "$pid" 2>/dev/null; do
            sleep 1
            waited=$((waited + 1))
        done
        kill -0 "$pid" 2>/dev/null || break
        last="$(tail -n 1 "$logfile" 2>/dev/null | tr -d '\r' | cut -c1-100)"
        printf '%s %s: still running (%ss)%s\n' "$prefix" "$label" "$((SECONDS - start))" \
            "${last:+ ... $last}"
    done
    rc=0
    wait "$pid" || rc=$?
    return "$rc"
}
