# shellcheck shell=sh
# The last lines of a track's container logs.
#   $1 compose command  $2 env file  $3 project  $4 compose file  $5 lines
compose=$1
shift
# shellcheck disable=SC2086 # the compose command is two words
$compose --env-file "$1" -p "$2" -f "$3" logs --no-color --tail "$4" 2>&1
