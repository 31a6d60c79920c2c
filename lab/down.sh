#!/usr/bin/env bash
# Remove everything lab/up.sh made: containers, nginx and sshd instances, and $LAB.
# dockerd is left running (other things may use it).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"

if docker info >/dev/null 2>&1; then
    ids=$(docker ps -aq --filter label=sluice.lab=1)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
    docker network ls --format '{{.Name}}' | grep -E '^demo-(stable|canary)-web-[0-9]+_default$' \
        | xargs -r docker network rm >/dev/null
fi
for d in "$LAB"/hosts/web-*; do
    [ -d "$d" ] || continue
    alive "$d/nginx/logs/nginx.pid" && kill "$(cat "$d/nginx/logs/nginx.pid")"
    alive "$d/sshd.pid" && kill "$(cat "$d/sshd.pid")"
done
rm -rf "$LAB"
echo "lab removed"
