# shellcheck shell=sh
# The containers of a compose project: `IMAGE|STATUS` lines.
#   $1 project
docker ps -a --filter "label=com.docker.compose.project=$1" --format '{{.Image}}|{{.Status}}'
