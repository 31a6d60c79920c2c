# shellcheck shell=sh
# The last lines of a track's container logs.
#   $1 compose command  $2 env file  $3 project  $4 compose file  $5 lines
# shellcheck disable=SC2016 # $@ is expanded by the inner shell
sh -c "$1"' --env-file "$1" -p "$2" -f "$3" logs --no-color --tail "$4"' compose "$2" "$3" "$4" "$5" 2>&1
