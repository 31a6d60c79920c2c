# shellcheck shell=sh
# The warm-up: $2 GETs of the URL, $3 at a time, each bounded by $4 seconds; one line per
# request, `STATUS SECONDS` (curl's own failures print `000 …`). Only missing tools fail.
#   $1 URL  $2 requests  $3 concurrency  $4 timeout in seconds
for t in seq xargs curl; do
    command -v "$t" >/dev/null || { echo "$t is not installed" >&2; exit 127; }
done
# xargs appends the request's number after the URL as $2, which curl never sees (no -I: it
# would rewrite every `@` in the URL).
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
seq 1 "$2" | xargs -P "$3" -n 1 sh -c \
    'curl -s -o /dev/null -m "$0" -w "%{http_code} %{time_total}\n" -- "$1" 2>/dev/null; true' \
    "$4" "$1"
exit 0
