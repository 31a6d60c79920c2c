# shellcheck shell=sh
# Set the track's release in its env file and start its stack. Sent after lib.sh and
# compose.sh.
#   $1 upstream file  $2 service  $3 fencing token
#   $4 env file  $5 version  $6 port ('' for a fixed port: SLUICE_PORT is left alone)
#   $7 compose command  $8 project  $9 compose file
# Only the SLUICE_VERSION (and SLUICE_PORT) lines of the env file change; the operator's
# other variables stay.
set -u
fence "$(real_file "$1")" "$2" "$3"
env_file=$4 version=$5 port=$6 compose=$7 project=$8 compose_file=$9
umask 022
dir=$(helper_dir "$env_file")
mkdir -p -- "$dir" || exit 13
tmp="$dir/$(basename -- "$env_file").new"
{
    if [ -f "$env_file" ]; then
        if [ -n "$port" ]; then
            grep -v -e '^SLUICE_VERSION=' -e '^SLUICE_PORT=' -- "$env_file"
        else
            grep -v -e '^SLUICE_VERSION=' -- "$env_file"
        fi
    fi
    printf 'SLUICE_VERSION=%s\n' "$version"
    if [ -n "$port" ]; then printf 'SLUICE_PORT=%s\n' "$port"; fi
} >"$tmp"
if [ -f "$env_file" ]; then chmod --reference="$env_file" "$tmp" 2>/dev/null || true; fi
mv -f -- "$tmp" "$env_file" || exit 13
compose_run "$(compose_log "$env_file" "$project")" "$compose" "$env_file" "$project" \
    "$compose_file" up -d --remove-orphans
