# shellcheck shell=sh
# Swap a new upstream file in (read from stdin), checked and restorable. Sent after lib.sh.
#   $1 upstream file (a symlink is followed: its target is edited)
#   $2 service  $3 fencing token
#   $4 SHA-256 of the file as sluice read it   $5 SHA-256 of the new file sent on stdin
#   $6 test command   $7 reload command
#   $8 precheck URL ('' for none)   $9 precheck timeout in seconds
#   $10 $11 $12 (optional): port registry, its SHA-256 as read, its new content, written once
#   the new file is live (a failure restores the file: both happen or neither does)
# Prints the live file as hex. Exit codes: see lib.sh; any failure leaves the file as it was.
set -u
file=$(real_file "$1")
service=$2 token=$3 old_sha=$4 new_sha=$5 test_cmd=$6 reload_cmd=$7 url=$8 secs=$9
shift 9
fence "$file" "$service" "$token"
dir=$(helper_dir "$file")
base=$(basename -- "$file")
new="$dir/$base.new"
bak="$dir/$base.bak"
registry=
if [ $# -ge 3 ]; then
    registry=$1 registry_sha=$2 registry_text=$3
    registry_lock "$registry"
    [ "$(sha "$registry")" = "$registry_sha" ] || exit 10
fi
cat >"$new" || { rm -f -- "$new"; exit 13; }
# End of input is not the end of the file: a dropped channel must not swap in a cut file.
if [ "$(sha "$new")" != "$new_sha" ]; then
    echo "the new $file arrived incomplete ($(wc -c <"$new") bytes); nothing was changed" >&2
    rm -f -- "$new"
    exit 17
fi
[ "$(sha "$file")" = "$old_sha" ] || { rm -f -- "$new"; exit 10; }
if [ -n "$url" ]; then
    curl -fsS -m "$secs" -o /dev/null "$url" >/dev/null 2>&1 || { rm -f -- "$new"; exit 15; }
fi
nginx_lock "$test_cmd" "$reload_cmd"
cp -p -- "$file" "$bak" || { rm -f -- "$new"; exit 13; }
chmod --reference="$bak" "$new" 2>/dev/null || true
mv -f -- "$new" "$file" || { rm -f -- "$new"; exit 13; }
restore() {
    mv -f -- "$bak" "$file"
    if [ "$1" = reload ]; then sh -c "$reload_cmd" >/dev/null 2>&1; fi
}
if ! out=$(sh -c "$test_cmd" 2>&1); then
    restore no; printf '%s\n' "$out" >&2; exit 11
fi
if ! out=$(sh -c "$reload_cmd" 2>&1); then
    restore reload; printf '%s\n' "$out" >&2; exit 12
fi
if [ -n "$registry" ]; then
    if ! { printf '%s' "$registry_text" >"$registry.sluice-new" && mv -f -- "$registry.sluice-new" "$registry"; }; then
        restore reload; echo "cannot write the port registry $registry" >&2; exit 13
    fi
fi
hex "$file"
