# shellcheck shell=sh
# Print the upstream file as hex (its bytes unchanged, whatever they are), then, when a port
# registry is named, a record separator (\036) and the registry. Sent after lib.sh.
#   $1 upstream file   $2 port registry ('' for none)
[ -r "$1" ] || { echo "cannot read $1" >&2; exit 1; }
hex "$1" || exit 1
if [ -n "$2" ]; then
    printf '\036'
    cat -- "$2" 2>/dev/null
fi
exit 0
