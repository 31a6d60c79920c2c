# shellcheck shell=sh
# What a port claim decides on, separated by \036: the port registry, the listening sockets
# (`ss -Hltn`), the upstream file as hex. Sent after lib.sh.
#   $1 port registry   $2 upstream file
cat -- "$1" 2>/dev/null
printf '\036'
ss -Hltn || exit 3
printf '\036'
hex "$2" || exit 1
