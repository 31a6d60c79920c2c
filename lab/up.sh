#!/usr/bin/env bash
# Bring up the local lab on this Debian machine (as root). Idempotent: a second run changes
# nothing that runs. `--reset` also puts every host back to the baseline (stable 1.0.0 at 100 %,
# no canary). LAB_HOSTS=N starts N hosts (default 3; config/lab.yaml describes 3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (the lab starts sshd, nginx and dockerd)"
RESET=0
[ "${1:-}" = "--reset" ] && RESET=1

step "packages"
pkgs=(openssh-server openssh-client nginx-light docker.io docker-compose curl wrk util-linux tmux)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -q || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
else
    echo "all present"
fi
mkdir -p "$LAB/ssh" "$LAB/hosts" /run/sshd

step "deploy user"
if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
    # Password "*": no password login, but not "locked" (sshd without PAM refuses locked accounts).
    useradd --system --shell /bin/sh --home-dir "$LAB/home" --groups docker --password "*" "$DEPLOY_USER" \
        || die "cannot create the user $DEPLOY_USER"
fi
mkdir -p "$LAB/home"
give "$LAB/home"
echo "$DEPLOY_USER (shell /bin/sh, group docker)"

step "docker"
if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: $LAB/dockerd.log)"
    setsid nohup dockerd > "$LAB/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || die "dockerd did not start; see $LAB/dockerd.log"
fi
echo "dockerd is up"

step "demo image"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
    --target x86_64-unknown-linux-gnu --manifest-path "$here/demo/Cargo.toml" \
    || die "building the demo service failed"
ctx="$LAB/build"
mkdir -p "$ctx"
cp "$here/demo/target/x86_64-unknown-linux-gnu/release/sluice-demo" "$ctx/sluice-demo"
cp "$here/demo/Dockerfile" "$ctx/Dockerfile"
docker build --quiet -t "sluice-demo:$STABLE_VERSION" "$ctx" > "$LAB/build.log" 2>&1 \
    || { cat "$LAB/build.log"; die "docker build failed"; }
for v in 1.1.0 1.2.0 2.0.0 9.9.9-unhealthy; do
    docker tag "sluice-demo:$STABLE_VERSION" "sluice-demo:$v"
done
echo "sluice-demo: $STABLE_VERSION 1.1.0 1.2.0 2.0.0 9.9.9-unhealthy (one image; the version comes from the env)"

step "ssh keys"
[ -f "$LAB/ssh/lab_key" ] || ssh-keygen -q -t ed25519 -N "" -C sluice-lab -f "$LAB/ssh/lab_key"
cp "$LAB/ssh/lab_key.pub" "$LAB/ssh/authorized_keys"
: > "$LAB/ssh/known_hosts.new"

for n in $(seq 1 "$LAB_HOSTS"); do
    ip=$(host_ip "$n"); d=$(host_dir "$n")
    step "host web-$n ($ip)"
    mkdir -p "$d/nginx/conf.d" "$d/nginx/logs" "$d/nginx/tmp" "$d/srv/demo"
    give "$d/nginx" "$d/srv"
    [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -C "web-$n" -f "$d/ssh_host_ed25519_key"
    echo "[$ip]:2222 $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >> "$LAB/ssh/known_hosts.new"
    cat > "$d/sshd_config" <<CONF
ListenAddress $ip:2222
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $LAB/ssh/authorized_keys
AllowUsers $DEPLOY_USER
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
# sluice multiplexes many commands over one connection per host.
MaxSessions 64
MaxStartups 64:30:128
Subsystem sftp internal-sftp
CONF
    if alive "$d/sshd.pid"; then
        kill -HUP "$(cat "$d/sshd.pid")"
    else
        /usr/sbin/sshd -f "$d/sshd_config" || die "sshd for web-$n did not start"
    fi

    cat > "$d/nginx/nginx.conf" <<CONF
# nginx of lab host web-$n (prefix $d/nginx/), run by $DEPLOY_USER.
worker_processes 1;
pid logs/nginx.pid;
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
            proxy_next_upstream error timeout;
        }
    }
}
CONF
    if [ ! -f "$d/nginx/conf.d/demo.conf" ] || [ "$RESET" = 1 ]; then
        write_upstream "$n"
    fi
    # shellcheck disable=SC2046
    give "$d/nginx"
    as_deploy nginx $(nginx_args "$n") -t -q || die "nginx config of web-$n is invalid"
    start_nginx "$n"

    for track in stable canary; do
        port=8081; [ "$track" = canary ] && port=8082
        cat > "$d/srv/demo/$track.yml" <<CONF
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
    give "$d/srv"
    if [ ! -f "$d/srv/demo/demo-stable-web-$n.env" ] || [ "$RESET" = 1 ]; then
        write_env "$n" stable "$STABLE_VERSION"
    fi
    [ -f "$d/srv/demo/demo-canary-web-$n.env" ] || write_env "$n" canary none
    compose "$n" stable up -d --quiet-pull 2>&1 | grep -v "^$" || die "starting web-$n's stable stack failed"
    if [ "$RESET" = 1 ]; then
        compose "$n" canary down 2>&1 || true
    fi
done
mv -f "$LAB/ssh/known_hosts.new" "$LAB/ssh/known_hosts"

step "verify"
for n in $(seq 1 "$LAB_HOSTS"); do
    ip=$(host_ip "$n")
    ssh -q -i "$LAB/ssh/lab_key" -o UserKnownHostsFile="$LAB/ssh/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o ConnectTimeout=5 -p 2222 "$DEPLOY_USER@$ip" \
        'docker ps -q >/dev/null && flock --version >/dev/null && curl --version >/dev/null' \
        || die "ssh to $DEPLOY_USER@web-$n ($ip:2222), or docker/flock/curl there, failed"
    wait_http "http://$ip:8080/" 20 || die "http://$ip:8080/ does not answer; see $(host_dir "$n")/nginx/logs/error.log"
    printf 'web-%s  ssh %s@%s -p 2222 ok   http://%s:8080/ -> %s' "$n" "$DEPLOY_USER" "$ip" "$ip" "$(curl -fsS -m 2 "http://$ip:8080/")"
    echo
done

cat <<MSG

The lab is up: $LAB_HOSTS hosts. Try:
  cargo run --release -- --config config/lab.yaml            # the console
  cargo run --release -- --config config/lab.yaml status     # weights read back from each host
  bash lab/down.sh                                           # remove everything
MSG
