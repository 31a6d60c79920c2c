# shellcheck shell=sh
# Run the configured nginx test command, its output on stdout.
#   $1 test command
sh -c "$1" 2>&1
