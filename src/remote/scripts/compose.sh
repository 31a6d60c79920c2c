# shellcheck shell=sh
# compose_run LOG COMPOSE ENV PROJECT FILE ARGS…: run `COMPOSE --env-file ENV -p PROJECT
# -f FILE ARGS…` in its own session with its output in LOG, and wait for it. The SSH channel
# carries none of its output, and a dropped connection does not stop it half-way. On failure
# the log's tail goes to stderr. COMPOSE is the configured command (`docker compose` or
# `docker-compose`, split into words).
compose_run() {
    _log=$1
    shift
    mkdir -p -- "$(dirname -- "$_log")" || exit 13
    if command -v setsid >/dev/null 2>&1; then _detach='setsid'; else _detach='env'; fi
    # shellcheck disable=SC2016 # expanded by the inner shell
    $_detach sh -c 'c=$1 e=$2 p=$3 f=$4; shift 4
        # shellcheck disable=SC2086 # the compose command is two words
        exec $c --env-file "$e" -p "$p" -f "$f" "$@"' compose "$@" \
        >"$_log" 2>&1 </dev/null &
    wait $!
    _rc=$?
    if [ "$_rc" -ne 0 ]; then
        tail -n 20 -- "$_log" >&2
        return "$_rc"
    fi
}

# compose_log ENV_FILE PROJECT: where a project's compose output is kept: in the helper
# directory beside its env file (which sluice must be able to write anyway).
compose_log() {
    printf '%s/.sluice/%s.log' "$(dirname -- "$1")" "$2"
}
