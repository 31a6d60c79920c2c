# shellcheck shell=sh
# One health probe: print the HTTP status (curl's errors on stdout too).
#   $1 URL  $2 timeout in seconds
curl -sS -o /dev/null -m "$2" -w '%{http_code}' -- "$1" 2>&1
