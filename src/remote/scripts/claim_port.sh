# shellcheck shell=sh
# Record a claimed port when the track's upstream line does not move. Sent after lib.sh.
#   $1 upstream file  $2 service  $3 fencing token
#   $4 port registry  $5 its SHA-256 as read  $6 its new content
set -u
fence "$(real_file "$1")" "$2" "$3"
registry_lock "$4"
[ "$(sha "$4")" = "$5" ] || exit 10
{ printf '%s' "$6" >"$4.sluice-new" && mv -f -- "$4.sluice-new" "$4"; } || exit 13
