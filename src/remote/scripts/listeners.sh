# shellcheck shell=sh
# The listening TCP sockets.
ss -Hltn 2>&1
