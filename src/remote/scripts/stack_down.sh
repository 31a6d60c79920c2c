# shellcheck shell=sh
# Remove the track's stack; then, for a `port: auto` track, mark its port free in the
# registry. Sent after lib.sh and compose.sh.
#   $1 upstream file  $2 service  $3 fencing token
#   $4 env file  $5 compose command  $6 project  $7 compose file
#   $8 port registry ('' for a fixed port)  $9 track
set -u
fence "$(real_file "$1")" "$2" "$3"
env_file=$4 compose=$5 project=$6 compose_file=$7 registry=$8 track=$9
# Without an env file compose cannot interpolate the image; give it a harmless one.
if [ ! -f "$env_file" ]; then printf 'SLUICE_VERSION=none\n' >"$env_file" || exit 13; fi
compose_run "$(compose_log "$env_file" "$project")" "$compose" "$env_file" "$project" \
    "$compose_file" down --remove-orphans || exit $?
if [ -n "$registry" ]; then
    registry_lock "$registry"
    if [ -f "$registry" ]; then
        awk -v s="$2" -v t="$track" '$2==s && $3==t && $4=="held" {$4="free"} {print}' \
            "$registry" >"$registry.sluice-new" && mv -f -- "$registry.sluice-new" "$registry" || exit 13
    fi
fi
exit 0
