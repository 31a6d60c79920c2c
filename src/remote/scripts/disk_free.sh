# shellcheck shell=sh
# Docker's data directory on the first line (empty when docker does not say), then
# `df -Pk` of it and of the directories given.
#   $@ directories
d=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)
printf '%s\n' "$d"
df -Pk ${d:+"$d"} "$@" 2>&1
