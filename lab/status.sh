#!/usr/bin/env bash
# What the lab runs: dockerd, the demo image, and per host its sshd, nginx, upstream weights
# and the stable/canary stacks (env file version, container, /health). Read-only.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"

[ -d "$LAB/hosts" ] || { echo "no lab at $LAB (start it with: bash lab/up.sh)"; exit 1; }

if docker info >/dev/null 2>&1; then
    if [ -f "$LAB/dockerd.pid" ] && alive "$LAB/dockerd.pid"; then
        echo "dockerd: up (started by the lab, pid $(cat "$LAB/dockerd.pid"))"
    else
        echo "dockerd: up"
    fi
    echo "image:   sluice-demo $(docker images --format '{{.Tag}}' sluice-demo | sort -V | paste -sd ' ')"
    containers=$(docker ps -a --format '{{.Label "com.docker.compose.project"}} {{.State}} {{.Image}}')
else
    echo "dockerd: NOT RUNNING"
    containers=""
fi

state() { # PIDFILE
    if alive "$1"; then echo "up"; else echo "DOWN"; fi
}
health() { # URL
    local code
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$1" 2>/dev/null)
    case $code in 000|'') echo "-" ;; *) echo "$code" ;; esac
}

echo
printf '%-7s %-11s %-5s %-5s %-26s %-36s %-36s\n' host address sshd nginx "weights (stable/canary)" \
    "stable: env / container / health" "canary: env / container / health"
for n in $(existing_hosts); do
    ip=$(host_ip "$n"); d=$(host_dir "$n")
    conf="$d/nginx/conf.d/demo.conf"
    weight() { # PORT -> weight, with "down" when marked down
        grep -Eo "server $ip:$1[^;]*" "$conf" 2>/dev/null | head -n 1 \
            | awk '{ w = "1"; d = ""; for (i = 3; i <= NF; i++) { if ($i ~ /^weight=/) w = substr($i, 8); if ($i == "down") d = " down" } print w d }'
    }
    track() { # TRACK PORT
        local c
        c=$(echo "$containers" | awk -v p="demo-$1-web-$n" '$1 == p { sub(/^sluice-demo:/, "", $3); print $2 " " $3 }' | head -n 1)
        printf '%s / %s / %s' "$(env_version "$n" "$1")" "${c:-none}" "$(health "http://$ip:$2/health")"
    }
    printf '%-7s %-11s %-5s %-5s %-26s %-36s %-36s\n' "web-$n" "$ip" "$(state "$d/sshd.pid")" \
        "$(state "$d/nginx/logs/nginx.pid")" "$(weight 8081) / $(weight 8082)" \
        "$(track stable 8081)" "$(track canary 8082)"
done

echo
bash "$here/prometheus.sh" status
