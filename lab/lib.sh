# Shared by lab/up.sh, lab/reset.sh, lab/status.sh and lab/down.sh (sourced, not run).
# The lab lives under $LAB; host N is web-N with sshd on 127.0.0.(10+N):2222, nginx on
# 127.0.0.(10+N):8080, and the demo's stable and canary stacks on ports 8081 and 8082 of the
# same address.
# shellcheck shell=bash disable=SC2034
LAB=${SLUICE_LAB:-/var/lib/sluice-lab}
LAB_HOSTS=${LAB_HOSTS:-3}
STABLE_VERSION=1.0.0
# Every tag of the demo image (one image: the version comes from the environment).
DEMO_TAGS=(1.0.0 1.1.0 1.2.0 2.0.0 9.9.9-unhealthy)
# sluice logs in as this unprivileged deploy user (in the docker group), as on real hosts.
DEPLOY_USER=sluice-deploy
SSH_PORT=2222
# The lab's Prometheus (lab/prometheus.sh) listens on 127.0.0.1:$PROM_PORT.
PROM_PORT=${PROM_PORT:-9190}

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nlab: ERROR: %s\n' "$*" >&2; exit 1; }
note() { printf '    %s\n' "$*"; }

host_ip() { echo "127.0.0.$((10 + $1))"; }
host_dir() { echo "$LAB/hosts/web-$1"; }

# The host numbers that exist under $LAB/hosts, in order (a lab may have more than LAB_HOSTS).
existing_hosts() {
    local d
    for d in "$LAB"/hosts/web-*; do
        [ -d "$d" ] && echo "${d##*/web-}"
    done | sort -n
}

as_deploy() { runuser -u "$DEPLOY_USER" -- "$@"; }

# Files sluice writes (upstream files, backups, env files) belong to the deploy user.
give() { chown -R "$DEPLOY_USER:$DEPLOY_USER" "$@"; }

# Write stdin to FILE only when its content differs (atomically). Succeeds when it wrote,
# fails (status 1) when FILE was already up to date.
put() {
    local f=$1
    cat > "$f.lab-new"
    if [ -f "$f" ] && cmp -s "$f" "$f.lab-new"; then
        rm -f "$f.lab-new"
        return 1
    fi
    mv -f "$f.lab-new" "$f"
}

nginx_args() { echo "-p $(host_dir "$1")/nginx/ -c nginx.conf -e logs/error.log"; }

compose() { # compose N TRACK ARGS...
    local n=$1 track=$2; shift 2
    local dir; dir="$(host_dir "$n")/srv/demo"
    docker-compose --env-file "$dir/demo-$track-web-$n.env" -p "demo-$track-web-$n" \
        -f "$dir/$track.yml" "$@"
}

# Does the process run? (A zombie does not: daemons are reaped by whatever init there is,
# which may take its time.)
running() {
    local st
    case $1 in ''|*[!0-9]*) return 1 ;; esac
    # The state follows the command name in parentheses (which may hold spaces).
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Is the process in a pid file alive?
alive() { [ -f "$1" ] && running "$(cat "$1" 2>/dev/null)"; }

# Stop a process (TERM, then KILL after ~5 s) and wait until it is gone.
stop_pid() {
    local pid=$1 _
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        running "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

write_upstream() { # N: stable at 100 %, canary down (the baseline)
    local ip f; ip=$(host_ip "$1"); f="$(host_dir "$1")/nginx/conf.d/demo.conf"
    cat > "$f.lab-new" <<CONF
# The demo service's upstream. sluice edits only the weights (and the \`down\` flags) below.
upstream demo_backend {
    server $ip:8081 weight=100 max_fails=3 fail_timeout=5s;   # stable
    server $ip:8082 weight=1 down;                            # canary
    keepalive 16;
}
CONF
    give "$f.lab-new"
    mv -f "$f.lab-new" "$f"
}

write_env() { # N TRACK VERSION
    local f; f="$(host_dir "$1")/srv/demo/demo-$2-web-$1.env"
    printf 'SLUICE_VERSION=%s\n' "$3" > "$f"
    give "$f"
}

# The version in a track's env file (what sluice last deployed there).
env_version() { # N TRACK
    sed -n 's/^SLUICE_VERSION=//p' "$(host_dir "$1")/srv/demo/demo-$2-web-$1.env" 2>/dev/null | tail -n 1
}

start_nginx() { # N: start (as the deploy user), or reload when running
    local n=$1 pidf; pidf="$(host_dir "$n")/nginx/logs/nginx.pid"
    if alive "$pidf" && [ "$(stat -c %U "/proc/$(cat "$pidf")")" != "$DEPLOY_USER" ]; then
        stop_pid "$(cat "$pidf")"   # an nginx of an older lab that ran as root
    fi
    # shellcheck disable=SC2046
    if alive "$pidf"; then
        as_deploy nginx $(nginx_args "$n") -s reload
    else
        as_deploy nginx $(nginx_args "$n")
    fi
}

wait_http() { # URL [SECONDS]
    local _
    for _ in $(seq 1 "$(( ${2:-20} * 5 ))"); do
        curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
