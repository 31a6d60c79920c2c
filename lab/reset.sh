#!/usr/bin/env bash
# Put every lab host back to the baseline, fast: stable at 1.0.0 with 100 % of traffic, no
# canary. The end-to-end tests call it before each test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"
[ -d "$LAB/hosts" ] || die "the lab is not set up; run: bash lab/up.sh"

reset_host() {
    local n=$1 ip; ip=$(host_ip "$n")
    write_env "$n" stable "$STABLE_VERSION"
    compose "$n" stable up -d >/dev/null 2>&1 || die "web-$n: starting the stable stack failed"
    compose "$n" canary down >/dev/null 2>&1 || true
    # sluice's helper files (backup, lock, fence) sit in .sluice/ beside the upstream file.
    rm -f "$(host_dir "$n")"/nginx/conf.d/demo.conf.sluice-* "$(host_dir "$n")"/nginx/conf.d/.sluice/demo.conf.*
    write_upstream "$n"
    start_nginx "$n" || die "web-$n: nginx reload failed"
    wait_http "http://$ip:8081/health" 20 || die "web-$n: stable stack is not healthy"
}

pids=()
for n in $(seq 1 "$LAB_HOSTS"); do
    reset_host "$n" &
    pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || exit 1
done
echo "lab reset: $LAB_HOSTS hosts at stable $STABLE_VERSION, 100 %"
