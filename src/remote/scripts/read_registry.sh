# shellcheck shell=sh
# Print the port registry (nothing when it does not exist yet).
#   $1 port registry
cat -- "$1" 2>/dev/null
exit 0
