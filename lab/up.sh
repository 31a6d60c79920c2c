#!/usr/bin/env bash
# Bring up the local lab on this Debian machine, as root: packages, dockerd, the demo image,
# and per host (web-N on 127.0.0.(10+N)) an sshd, an nginx and the stable compose stack.
#
#   bash lab/up.sh            idempotent: a second run changes nothing (a rollout in progress
#                             keeps its weights and versions)
#   bash lab/up.sh --reset    also puts every host back to the baseline: stable 1.0.0 at
#                             100 %, canary stopped
#   LAB_HOSTS=12 bash lab/up.sh   12 hosts instead of 3 (config/lab.yaml describes 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"

RESET=0
for arg in "$@"; do
    case $arg in
        --reset) RESET=1 ;;
        -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg (see: bash lab/up.sh --help)" ;;
    esac
done
[ "$(id -u)" = 0 ] || die "run as root (the lab starts sshd, nginx and dockerd)"
case $LAB_HOSTS in
    ''|*[!0-9]*) die "LAB_HOSTS must be a number from 1 to 200, not '$LAB_HOSTS'" ;;
esac
if [ "$LAB_HOSTS" -lt 1 ] || [ "$LAB_HOSTS" -gt 200 ]; then die "LAB_HOSTS must be from 1 to 200"; fi
started_at=$(date +%s.%N)
trap 'printf "\nlab: FAILED at line %s (step: %s)\n" "$LINENO" "${current_step:-start}" >&2' ERR
step() { current_step="$*"; printf '\n==> %s\n' "$*"; }

step "packages"
pkgs=(openssh-server openssh-client nginx-light docker.io docker-compose curl wrk
      procps util-linux tmux iproute2 findutils coreutils shellcheck)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    note "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
    # Their own services (nginx on :80, sshd on :22, where an init starts them) do not clash
    # with the lab's addresses and ports.
else
    note "all present: ${pkgs[*]}"
fi
command -v cargo >/dev/null || PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null \
    || die "cargo not found: install the Rust toolchain (rustup) to build the demo service"
mkdir -p "$LAB/ssh" "$LAB/hosts" /run/sshd

step "deploy user"
if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
    # Password "*": no password login, but not "locked" (sshd without PAM refuses locked accounts).
    useradd --system --shell /bin/sh --home-dir "$LAB/home" --groups docker --password "*" \
        "$DEPLOY_USER" || die "cannot create the user $DEPLOY_USER"
    note "created $DEPLOY_USER"
fi
id -nG "$DEPLOY_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$DEPLOY_USER" \
    || die "cannot add $DEPLOY_USER to the docker group"
mkdir -p "$LAB/home"
give "$LAB/home"
note "$DEPLOY_USER (shell /bin/sh, group docker, home $LAB/home)"

step "docker"
if ! docker info >/dev/null 2>&1; then
    if alive /var/run/docker.pid; then
        note "a dockerd is starting (pid $(cat /var/run/docker.pid)); waiting for it"
    else
        note "starting dockerd (log: $LAB/dockerd.log)"
        setsid nohup dockerd > "$LAB/dockerd.log" 2>&1 < /dev/null &
        # down.sh stops a dockerd only when the lab started it.
        echo $! > "$LAB/dockerd.pid"
    fi
    for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 \
        || { tail -n 20 "$LAB/dockerd.log" >&2 2>/dev/null; die "dockerd did not start within 60 s; see $LAB/dockerd.log"; }
fi
if [ -f "$LAB/dockerd.pid" ] && alive "$LAB/dockerd.pid"; then
    note "dockerd is up (started by the lab, pid $(cat "$LAB/dockerd.pid"))"
else
    note "dockerd is up (not started by the lab; down.sh leaves it running)"
fi

step "demo image"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --offline \
    --target x86_64-unknown-linux-gnu --manifest-path "$here/demo/Cargo.toml" \
    || die "building the demo service failed (cargo build --manifest-path lab/demo/Cargo.toml)"
bin="$here/demo/target/x86_64-unknown-linux-gnu/release/sluice-demo"
sum=$(cat "$bin" "$here/demo/Dockerfile" | sha256sum | cut -c1-64)
image_ok=1
for v in "${DEMO_TAGS[@]}"; do
    have=$(docker image inspect -f '{{ index .Config.Labels "sluice.lab.demo-sha256" }}' \
        "sluice-demo:$v" 2>/dev/null || true)
    [ "$have" = "$sum" ] || image_ok=0
done
if [ "$image_ok" = 1 ]; then
    note "sluice-demo is up to date (${DEMO_TAGS[*]})"
else
    ctx="$LAB/build"
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp "$bin" "$ctx/sluice-demo"
    cp "$here/demo/Dockerfile" "$ctx/Dockerfile"
    docker build -q --label "sluice.lab.demo-sha256=$sum" -t "sluice-demo:${DEMO_TAGS[0]}" "$ctx" \
        > "$LAB/build.log" 2>&1 || { cat "$LAB/build.log" >&2; die "docker build of the demo image failed"; }
    for v in "${DEMO_TAGS[@]:1}"; do
        docker tag "sluice-demo:${DEMO_TAGS[0]}" "sluice-demo:$v" || die "docker tag sluice-demo:$v failed"
    done
    note "built sluice-demo: ${DEMO_TAGS[*]} (one image; the version comes from the environment)"
fi

step "ssh keys"
if [ ! -f "$LAB/ssh/lab_key" ]; then
    ssh-keygen -q -t ed25519 -N "" -C sluice-lab -f "$LAB/ssh/lab_key" || die "ssh-keygen failed"
    note "new client key $LAB/ssh/lab_key"
else
    note "client key kept: $LAB/ssh/lab_key"
fi
if put "$LAB/ssh/authorized_keys" < "$LAB/ssh/lab_key.pub"; then note "wrote authorized_keys"; fi
chmod 600 "$LAB/ssh/lab_key"

# Each host: files first (changed only when they differ), then the daemons, reloaded only when
# their configuration changed.
for n in $(seq 1 "$LAB_HOSTS"); do
    ip=$(host_ip "$n"); d=$(host_dir "$n")
    step "host web-$n ($ip)"
    mkdir -p "$d/nginx/conf.d" "$d/nginx/logs" "$d/nginx/tmp" "$d/srv/demo"
    if [ ! -f "$d/ssh_host_ed25519_key" ]; then
        ssh-keygen -q -t ed25519 -N "" -C "web-$n" -f "$d/ssh_host_ed25519_key" \
            || die "ssh-keygen for web-$n failed"
    fi

    # --- sshd
    sshd_changed=0
    put "$d/sshd_config" <<CONF && sshd_changed=1
# sshd of lab host web-$n (written by lab/up.sh)
ListenAddress $ip:$SSH_PORT
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $LAB/ssh/authorized_keys
AllowUsers $DEPLOY_USER
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
# sluice multiplexes many commands over one connection per host.
MaxSessions 64
MaxStartups 64:30:128
Subsystem sftp internal-sftp
CONF
    /usr/sbin/sshd -t -f "$d/sshd_config" || die "web-$n: sshd_config is invalid ($d/sshd_config)"
    if ! alive "$d/sshd.pid"; then
        /usr/sbin/sshd -f "$d/sshd_config" || die "web-$n: sshd did not start ($ip:$SSH_PORT taken?)"
        note "sshd started on $ip:$SSH_PORT"
    elif [ "$sshd_changed" = 1 ]; then
        kill -HUP "$(cat "$d/sshd.pid")"
        note "sshd reloaded (config changed)"
    else
        note "sshd running (pid $(cat "$d/sshd.pid"))"
    fi

    # --- nginx
    nginx_changed=0
    put "$d/nginx/nginx.conf" <<CONF && nginx_changed=1
# nginx of lab host web-$n (prefix $d/nginx/), run by $DEPLOY_USER. Written by lab/up.sh.
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path tmp/client;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    # One JSON object per request: which upstream served it, status, and timings.
    log_format sluice escape=json '{"time":"\$time_iso8601","msec":\$msec,"upstream":"\$upstream_addr",'
                                  '"status":\$status,"request_time":\$request_time,'
                                  '"upstream_time":"\$upstream_response_time","request":"\$request"}';
    include conf.d/*.conf;
    server {
        listen $ip:8080;
        access_log logs/access.log sluice;
        location / {
            proxy_pass http://demo_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }
    }
}
CONF
    if [ ! -f "$d/nginx/conf.d/demo.conf" ]; then
        write_upstream "$n"; nginx_changed=1
        note "upstream file written: stable 100 %, canary down"
    elif [ "$RESET" = 1 ]; then
        rm -f "$d"/nginx/conf.d/demo.conf.sluice-* "$d"/nginx/conf.d/.sluice/demo.conf.*
        write_upstream "$n"; nginx_changed=1
        note "upstream file reset: stable 100 %, canary down"
    else
        note "upstream file kept: $(grep -Eo 'server [^;]*' "$d/nginx/conf.d/demo.conf" | sed 's/ max_fails=[^ ]*//; s/ fail_timeout=[^ ]*//' | paste -sd ',' | sed 's/,/, /g')"
    fi
    give "$d/nginx"
    # shellcheck disable=SC2046
    as_deploy nginx $(nginx_args "$n") -t -q \
        || die "web-$n: nginx configuration is invalid (nginx $(nginx_args "$n") -t)"
    pidf="$d/nginx/logs/nginx.pid"
    if ! alive "$pidf"; then
        start_nginx "$n" || die "web-$n: nginx did not start; see $d/nginx/logs/error.log"
        note "nginx started on $ip:8080"
    elif [ "$nginx_changed" = 1 ] || [ "$(stat -c %U "/proc/$(cat "$pidf")")" != "$DEPLOY_USER" ]; then
        start_nginx "$n" || die "web-$n: nginx reload failed; see $d/nginx/logs/error.log"
        note "nginx reloaded (config changed)"
    else
        note "nginx running (pid $(cat "$pidf"))"
    fi

    # --- compose files and env files (sluice writes the env files when it deploys)
    for track in stable canary; do
        port=8081; [ "$track" = canary ] && port=8082
        if put "$d/srv/demo/$track.yml"; then note "wrote $track.yml"; fi <<CONF
# The demo service's $track track on web-$n (written by lab/up.sh). The version comes from
# demo-$track-web-$n.env next to this file, which sluice rewrites when it deploys.
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
      DEMO_LISTEN: "$ip:$port"
      DEMO_VERSION: "\${SLUICE_VERSION}"
      DEMO_TRACK: "$track"
CONF
    done
    if [ ! -f "$d/srv/demo/demo-stable-web-$n.env" ] || [ "$RESET" = 1 ]; then
        write_env "$n" stable "$STABLE_VERSION"
    fi
    if [ ! -f "$d/srv/demo/demo-canary-web-$n.env" ] || [ "$RESET" = 1 ]; then
        write_env "$n" canary none
    fi
    give "$d/srv"
done

# Known hosts of every host the lab has (also those beyond LAB_HOSTS from an earlier run).
{
    for n in $(existing_hosts); do
        d=$(host_dir "$n")
        [ -f "$d/ssh_host_ed25519_key.pub" ] || continue
        echo "[$(host_ip "$n")]:$SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"
    done
} | if put "$LAB/ssh/known_hosts"; then note "wrote $LAB/ssh/known_hosts"; fi

step "stable stacks"
# docker-compose (v1) is slow to start: bring every host's stack up at once.
pids=()
for n in $(seq 1 "$LAB_HOSTS"); do
    (
        log="$(host_dir "$n")/compose-up.log"
        {
            [ "$RESET" = 1 ] && compose "$n" canary down --remove-orphans
            compose "$n" stable up -d
        } > "$log" 2>&1
    ) &
    pids+=($!)
done
for i in "${!pids[@]}"; do
    n=$((i + 1)); log="$(host_dir "$n")/compose-up.log"
    if ! wait "${pids[$i]}"; then
        cat "$log" >&2
        die "web-$n: docker-compose -p demo-stable-web-$n up failed (above; $log)"
    fi
    what=$(tr -d '\r' < "$log" | grep -E ' done$|up-to-date$' | sed 's/ \.\.\. done$//' | paste -sd ',' || true)
    note "web-$n: stable $(env_version "$n" stable): ${what:-no change}"
done

step "prometheus"
bash "$here/prometheus.sh" start

step "verify"
for n in $(seq 1 "$LAB_HOSTS"); do
    ip=$(host_ip "$n"); d=$(host_dir "$n")
    ssh -q -i "$LAB/ssh/lab_key" -o UserKnownHostsFile="$LAB/ssh/known_hosts" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -p "$SSH_PORT" \
        "$DEPLOY_USER@$ip" 'docker ps -q >/dev/null && flock --version >/dev/null && curl --version >/dev/null' \
        || die "web-$n: ssh $DEPLOY_USER@$ip -p $SSH_PORT (or docker/flock/curl there) failed"
    want=$(env_version "$n" stable)
    wait_http "http://$ip:8081/health" 20 \
        || die "web-$n: the stable stack does not answer on $ip:8081 (docker logs demo-stable-web-${n}_app_1)"
    got=$(curl -fsS -m 2 "http://$ip:8081/") || die "web-$n: GET http://$ip:8081/ failed"
    [ "$got" = "hello from stable $want" ] \
        || die "web-$n: the stable stack says '$got', expected 'hello from stable $want'"
    wait_http "http://$ip:8080/" 10 \
        || die "web-$n: http://$ip:8080/ (nginx) does not answer; see $d/nginx/logs/error.log"
    front=$(curl -fsS -m 2 "http://$ip:8080/") || die "web-$n: GET http://$ip:8080/ failed"
    if grep -Eq "server $ip:8082 [^;]*\bdown\b" "$d/nginx/conf.d/demo.conf"; then
        # No traffic on the canary: nginx must answer with the stable version.
        [ "$front" = "$got" ] || die "web-$n: nginx :8080 says '$front', expected '$got'"
    fi
    printf '    web-%-3s ssh %s@%s:%s ok   :8081 -> %s   :8080 -> %s\n' "$n" "$DEPLOY_USER" "$ip" \
        "$SSH_PORT" "$got" "$front"
done
trap - ERR

elapsed=$(awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
last=$(host_ip "$LAB_HOSTS")
cat <<MSG

The lab is up in ${elapsed} s: $LAB_HOSTS host(s), web-1..web-$LAB_HOSTS on 127.0.0.11..$last
  ssh      $DEPLOY_USER@127.0.0.1N -p $SSH_PORT -i $LAB/ssh/lab_key -o UserKnownHostsFile=$LAB/ssh/known_hosts
  nginx    http://127.0.0.1N:8080/   upstream file $LAB/hosts/web-N/nginx/conf.d/demo.conf
  demo     stable :8081 (running), canary :8082 (started by sluice)
  prom     http://127.0.0.1:$PROM_PORT/ scrapes both tracks each second (lab/prometheus.sh)
  knobs    curl -X POST 'http://127.0.0.11:8082/knobs?error_rate=0.1&latency_ms=200'
Try:
  cargo run --release -- --config config/lab.yaml            # the console
  cargo run --release -- --config config/lab.yaml status     # weights read back from each host
  bash lab/status.sh                                         # what runs
  bash lab/down.sh                                           # remove everything
MSG
