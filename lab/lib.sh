# Shared by lab/up.sh, lab/reset.sh and lab/down.sh. The lab lives under $LAB; host N is
# web-N with sshd on 127.0.0.(10+N):2222, nginx on 127.0.0.(10+N):8080, and the demo's stable and
# canary stacks on ports 8081 and 8082 of the same address.
LAB=${SLUICE_LAB:-/var/lib/sluice-lab}
LAB_HOSTS=${LAB_HOSTS:-3}
STABLE_VERSION=1.0.0
# sluice logs in as this unprivileged deploy user (in the docker group), as on real hosts.
DEPLOY_USER=sluice-deploy

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'lab: %s\n' "$*" >&2; exit 1; }

host_ip() { echo "127.0.0.$((10 + $1))"; }
host_dir() { echo "$LAB/hosts/web-$1"; }

as_deploy() { runuser -u "$DEPLOY_USER" -- "$@"; }

# Files sluice writes (upstream files, backups, env files) belong to the deploy user.
give() { chown -R "$DEPLOY_USER:$DEPLOY_USER" "$@"; }

nginx_args() { echo "-p $(host_dir "$1")/nginx/ -c nginx.conf -e logs/error.log"; }

compose() { # compose N TRACK ARGS...
    local n=$1 track=$2; shift 2
    local dir; dir="$(host_dir "$n")/srv/demo"
    docker-compose --env-file "$dir/demo-$track-web-$n.env" -p "demo-$track-web-$n" \
        -f "$dir/$track.yml" "$@"
}

# Is the process in a pid file alive?
alive() { [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

write_upstream() { # N: stable at 100 %, canary down (the baseline)
    local ip; ip=$(host_ip "$1")
    cat > "$(host_dir "$1")/nginx/conf.d/demo.conf.lab-new" <<CONF
# The demo service's upstream. sluice edits only the weights (and the \`down\` flags) below.
upstream demo_backend {
    server $ip:8081 weight=100 max_fails=3 fail_timeout=5s;   # stable
    server $ip:8082 weight=1 down;                            # canary
    keepalive 16;
}
CONF
    give "$(host_dir "$1")/nginx/conf.d/demo.conf.lab-new"
    mv -f "$(host_dir "$1")/nginx/conf.d/demo.conf.lab-new" "$(host_dir "$1")/nginx/conf.d/demo.conf"
}

write_env() { # N TRACK VERSION
    printf 'SLUICE_VERSION=%s\n' "$3" > "$(host_dir "$1")/srv/demo/demo-$2-web-$1.env"
    give "$(host_dir "$1")/srv/demo/demo-$2-web-$1.env"
}

start_nginx() { # N: start (as the deploy user), or reload when running
    local n=$1 pidf; pidf="$(host_dir "$n")/nginx/logs/nginx.pid"
    if alive "$pidf" && [ "$(stat -c %U "/proc/$(cat "$pidf")")" != "$DEPLOY_USER" ]; then
        kill "$(cat "$pidf")"; sleep 0.3   # an nginx of an older lab that ran as root
    fi
    # shellcheck disable=SC2046
    if alive "$pidf"; then
        as_deploy nginx $(nginx_args "$n") -s reload
    else
        as_deploy nginx $(nginx_args "$n")
    fi
}

wait_http() { # URL [SECONDS]
    local i
    for i in $(seq 1 "$(( ${2:-20} * 5 ))"); do
        curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
