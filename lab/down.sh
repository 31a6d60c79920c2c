#!/usr/bin/env bash
# Remove everything lab/up.sh made: the demo containers (every compose project
# demo-{stable,canary}-web-N), the demo image, every host's nginx and sshd (and the ssh sessions
# they serve), the deploy user and $LAB. A dockerd is stopped only when lab/up.sh started it
# (it then logs into $LAB); a dockerd started otherwise keeps running. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"

failed=0
warn() { printf 'lab: warning: %s\n' "$*" >&2; failed=1; }

step "containers and image"
if docker info >/dev/null 2>&1; then
    # Compose projects demo-stable-web-N and demo-canary-web-N, whoever started them (lab or
    # sluice), and anything else labelled as the lab's.
    ids=$(docker ps -a --format '{{.ID}} {{.Label "com.docker.compose.project"}} {{.Label "sluice.lab"}}' \
        | awk '$2 ~ /^(demo|shop)-(stable|canary)-web-[0-9]+$/ || $3 == "1" { print $1 }')
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null || warn "docker rm -f failed"
        note "removed $(echo "$ids" | wc -l) container(s)"
    fi
    nets=$(docker network ls --format '{{.Name}}' | grep -E '^(demo|shop)-(stable|canary)-web-[0-9]+_default$' || true)
    if [ -n "$nets" ]; then
        # shellcheck disable=SC2086
        docker network rm $nets >/dev/null || warn "docker network rm failed"
    fi
    images=$(docker images --format '{{.Repository}}:{{.Tag}}' sluice-demo | grep -v '<none>' || true)
    if [ -n "$images" ]; then
        # shellcheck disable=SC2086
        docker rmi $images >/dev/null || warn "docker rmi sluice-demo failed"
        note "removed image sluice-demo ($(echo "$images" | sed 's/^sluice-demo://' | paste -sd ' '))"
    fi
else
    note "docker is not running: no containers to remove"
fi

step "nginx and sshd"
for n in $(existing_hosts); do
    d=$(host_dir "$n")
    if alive "$d/nginx/logs/nginx.pid"; then
        stop_pid "$(cat "$d/nginx/logs/nginx.pid")"
        note "web-$n: nginx stopped"
    fi
    if alive "$d/sshd.pid"; then
        pid=$(cat "$d/sshd.pid")
        # The listener's children are the open ssh sessions; they outlive it otherwise.
        sessions=$(ps -o pid= --ppid "$pid" || true)
        stop_pid "$pid"
        for s in $sessions; do stop_pid "$s"; done
        note "web-$n: sshd stopped ($(echo "$sessions" | wc -w) session(s) closed)"
    fi
done
# Whatever the deploy user still runs (commands of closed sessions, an nginx whose pid file was
# lost) belongs to the lab.
if id "$DEPLOY_USER" >/dev/null 2>&1; then
    left=$(ps -o pid=,stat= -u "$DEPLOY_USER" | awk '$2 !~ /^Z/ { print $1 }' || true)
    if [ -n "$left" ]; then
        for p in $left; do stop_pid "$p"; done
        note "stopped $(echo "$left" | wc -w) leftover process(es) of $DEPLOY_USER"
    fi
fi

step "prometheus"
bash "$here/prometheus.sh" stop || warn "stopping the lab's prometheus failed"

step "dockerd"
if [ -f "$LAB/dockerd.pid" ] && alive "$LAB/dockerd.pid"; then
    pid=$(cat "$LAB/dockerd.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 300); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
        warn "dockerd (pid $pid) did not stop within 30 s; left running"
    else
        note "dockerd stopped (the lab had started it)"
    fi
elif docker info >/dev/null 2>&1; then
    note "left running (not started by the lab)"
else
    note "not running"
fi

step "files and user"
if rm -rf "$LAB"; then
    note "removed $LAB"
else
    warn "could not remove all of $LAB"
fi
if id "$DEPLOY_USER" >/dev/null 2>&1; then
    if userdel "$DEPLOY_USER"; then
        note "removed user $DEPLOY_USER"
    else
        warn "could not remove the user $DEPLOY_USER (processes left?)"
    fi
fi

if [ "$failed" = 1 ]; then
    echo "lab removed, with warnings (above)"
    exit 1
fi
echo
echo "lab removed"
