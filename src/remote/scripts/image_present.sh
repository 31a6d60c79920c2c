# shellcheck shell=sh
# Is the image present? Exit 0 when it is.
#   $1 image:tag
docker image inspect --format '{{.Id}}' "$1" >/dev/null 2>&1
