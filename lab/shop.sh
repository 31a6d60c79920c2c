#!/usr/bin/env bash
# A second lab service, `shop`, whose tracks have `port: auto`: sluice allocates their ports
# from each host's range 20000-20009 and records them in the host's port registry
# ($LAB/hosts/web-N/srv/ports). This script puts shop back to its baseline on every host: stable
# 1.0.0 on port 20000 (held), the canary's line down at 20001 (free), nginx on :8090.
# Run by tests/lab_ports.rs (after lab/up.sh); idempotent. See lab/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"
[ -d "$LAB/hosts" ] || die "the lab is not set up; run: bash lab/up.sh"

shop_compose() { # N TRACK ARGS...
    local n=$1 track=$2; shift 2
    local dir; dir="$(host_dir "$n")/srv/shop"
    docker-compose --env-file "$dir/shop-$track-web-$n.env" -p "shop-$track-web-$n" \
        -f "$dir/$track.yml" "$@"
}

shop_host() {
    local n=$1 ip d; ip=$(host_ip "$n"); d=$(host_dir "$n")
    mkdir -p "$d/srv/shop"
    for track in stable canary; do
        cat > "$d/srv/shop/$track.yml" <<CONF
# The shop service's $track track on web-$n (written by lab/shop.sh). sluice writes the
# version and the allocated port to shop-$track-web-$n.env when it starts the stack.
version: "2.4"
services:
  app:
    image: "sluice-demo:\${SLUICE_VERSION}"
    network_mode: host
    init: true
    restart: "no"
    labels:
      sluice.lab: "1"
    environment:
      DEMO_LISTEN: "$ip:\${SLUICE_PORT}"
      DEMO_VERSION: "\${SLUICE_VERSION}"
      DEMO_TRACK: "$track"
CONF
    done
    shop_compose "$n" canary down --remove-orphans >/dev/null 2>&1 || true
    printf 'SLUICE_VERSION=%s\nSLUICE_PORT=20000\n' "$STABLE_VERSION" > "$d/srv/shop/shop-stable-web-$n.env"
    printf 'SLUICE_VERSION=none\nSLUICE_PORT=20001\n' > "$d/srv/shop/shop-canary-web-$n.env"
    printf '# PORT SERVICE TRACK STATE\n20000 shop stable held\n20001 shop canary free\n' > "$d/srv/ports"
    rm -f "$d/srv/ports.sluice-new" "$d"/nginx/conf.d/shop.conf.sluice-* "$d"/nginx/conf.d/.sluice/shop.conf.*
    cat > "$d/nginx/conf.d/shop.conf.lab-new" <<CONF
# The shop service (written by lab/shop.sh). Its servers' ports are allocated by sluice.
upstream shop_backend {
    server $ip:20000 weight=100 max_fails=3 fail_timeout=5s;   # stable
    server $ip:20001 weight=1 down;                            # canary
    keepalive 8;
}
server {
    listen $ip:8090;
    access_log logs/shop-access.log sluice;
    location / {
        proxy_pass http://shop_backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_connect_timeout 2s;
        proxy_next_upstream error timeout;
    }
}
CONF
    mv -f "$d/nginx/conf.d/shop.conf.lab-new" "$d/nginx/conf.d/shop.conf"
    give "$d/srv/shop" "$d/srv/ports" "$d/nginx/conf.d"
    shop_compose "$n" stable up -d >/dev/null 2>&1 || die "web-$n: starting shop's stable stack failed"
    start_nginx "$n" || die "web-$n: nginx reload failed (shop.conf)"
    wait_http "http://$ip:20000/health" 20 || die "web-$n: shop's stable stack is not healthy on :20000"
}

pids=()
for n in $(seq 1 "$LAB_HOSTS"); do
    shop_host "$n" &
    pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || exit 1
done
echo "shop reset: $LAB_HOSTS hosts, stable $STABLE_VERSION on :20000 (held), canary free at :20001"
