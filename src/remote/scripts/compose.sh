# shellcheck shell=sh
# compose_run LOG COMPOSE ENV PROJECT FILE ARGS…: run `COMPOSE --env-file ENV -p PROJECT
# -f FILE ARGS…` in its own session with its output in LOG, and wait for it. The SSH channel
# carries none of its output, and a dropped connection does not stop it half-way. On failure
# the log's tail goes to stderr. COMPOSE is the configured command (`docker compose`).
compose_run() {
    _log=$1 _compose=$2
    shift 2
    mkdir -p -- "$(dirname -- "$_log")" || exit 13
    if command -v setsid >/dev/null 2>&1; then _detach='setsid'; else _detach='env'; fi
    # shellcheck disable=SC2016 # $@ is expanded by the inner shell
    $_detach sh -c "$_compose"' --env-file "$1" -p "$2" -f "$3" "$@"' compose "$@" \
        >"$_log" 2>&1 </dev/null &
    wait $!
    _rc=$?
    if [ "$_rc" -ne 0 ]; then
        tail -n 20 -- "$_log" >&2
        return "$_rc"
    fi
}

# compose_log FILE PROJECT: where a project's compose output is kept, beside its compose file.
compose_log() {
    printf '%s/.sluice/%s.log' "$(dirname -- "$1")" "$2"
}
