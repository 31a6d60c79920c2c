#!/usr/bin/env bash
# The lab's own Prometheus (Debian's `prometheus` binary, not its system service): scrapes the
# demo's stable (:8081) and canary (:8082) on every lab host each second, labelling each target
# with service, track and host; listens on 127.0.0.1:$PROM_PORT. As root:
#
#   bash lab/prometheus.sh start     install the package when missing, write the config, start
#                                    (idempotent: reloads only when the config changed)
#   bash lab/prometheus.sh stop      stop it (data stays under $LAB/prometheus)
#   bash lab/prometheus.sh status    up or down, and how many targets are up
#
# lab/up.sh starts it, lab/down.sh stops it, lab/status.sh shows it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"

dir="$LAB/prometheus"
pidf="$dir/prometheus.pid"
url="http://127.0.0.1:$PROM_PORT"

install_package() {
    if dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed"; then
        return 0
    fi
    note "installing Debian's prometheus package"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package's own service from starting: the lab runs its own instance.
    local policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy=1
    fi
    local ok=0
    { apt-get install -y -q --no-install-recommends prometheus \
        || { apt-get update -q && apt-get install -y -q --no-install-recommends prometheus; }; } && ok=1
    [ "$policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$ok" = 1 ] || die "apt-get install prometheus failed"
}

write_config() { # succeeds when the config changed
    local n ip
    mkdir -p "$dir/data"
    {
        cat <<CONF
# The lab's Prometheus (written by lab/prometheus.sh). Each demo target carries the labels
# sluice's default queries select on: service, track (stable :8081, canary :8082) and host.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: demo
    static_configs:
CONF
        for n in $(existing_hosts); do
            ip=$(host_ip "$n")
            printf "      - targets: ['%s:8081']\n        labels: { service: demo, track: stable, host: web-%s }\n" "$ip" "$n"
            printf "      - targets: ['%s:8082']\n        labels: { service: demo, track: canary, host: web-%s }\n" "$ip" "$n"
        done
    } | put "$dir/prometheus.yml"
}

ready() { curl -fsS -m 1 -o /dev/null "$url/-/ready" 2>/dev/null; }

start() {
    install_package
    local bin; bin=$(command -v prometheus || echo /usr/bin/prometheus)
    [ -x "$bin" ] || die "the prometheus binary is missing after installing the package"
    local changed=0
    write_config && changed=1
    "$(dirname "$bin")/promtool" check config "$dir/prometheus.yml" >/dev/null 2>&1 \
        || [ ! -x "$(dirname "$bin")/promtool" ] \
        || die "the lab's prometheus.yml is invalid ($dir/prometheus.yml)"
    if alive "$pidf"; then
        if [ "$changed" = 1 ]; then
            kill -HUP "$(cat "$pidf")"
            note "prometheus reloaded (config changed)"
        else
            note "prometheus running on $url (pid $(cat "$pidf"))"
        fi
        return 0
    fi
    if ready; then
        die "something else answers on $url; stop it, or choose another port with PROM_PORT=N"
    fi
    setsid nohup "$bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$PROM_PORT" \
        > "$dir/prometheus.log" 2>&1 < /dev/null &
    echo $! > "$pidf"
    local _
    for _ in $(seq 1 150); do
        ready && break
        alive "$pidf" || break
        sleep 0.2
    done
    ready || { tail -n 20 "$dir/prometheus.log" >&2; die "prometheus did not start on $url; see $dir/prometheus.log"; }
    note "prometheus started on $url (pid $(cat "$pidf"), log $dir/prometheus.log)"
}

stop() {
    if alive "$pidf"; then
        stop_pid "$(cat "$pidf")"
        note "prometheus stopped"
    else
        note "prometheus was not running"
    fi
    rm -f "$pidf"
}

status() {
    if alive "$pidf" && ready; then
        local up
        up=$(curl -fsS -m 2 "$url/api/v1/query" --data-urlencode 'query=count(up{job="demo"} == 1)' 2>/dev/null \
            | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)".*/\1/p')
        echo "prometheus: up on $url (pid $(cat "$pidf")), demo targets up: ${up:-0}"
    elif alive "$pidf"; then
        echo "prometheus: starting (pid $(cat "$pidf")), not ready on $url"
    else
        echo "prometheus: DOWN (start it with: bash lab/prometheus.sh start)"
    fi
}

case ${1:-} in
    start) [ "$(id -u)" = 0 ] || die "run as root"; start ;;
    stop) stop ;;
    status) status ;;
    *) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
