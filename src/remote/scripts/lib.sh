# shellcheck shell=sh
# Functions shared by the host scripts. A host keeps no copy: sluice sends this file in front
# of each script that uses it. Every input arrives as an argument, never inside the text.
#
# Exit codes (decoded in one place: HostExit in src/remote/scripts.rs):
#   10 a file changed since sluice read it     14 another writer holds a lock for 30 s
#   11 the nginx test rejected the new file    15 the precheck (health) failed
#   12 the nginx reload failed                 16 a newer fencing token was seen
#   13 a helper file could not be written      17 the new file arrived incomplete

# The directory of a file's helper files (backup, temporary file, lock, fence): `.sluice`
# beside it. nginx's include globs (`*`, `*.conf`) never match a name starting with a dot.
helper_dir() {
    printf '%s/.sluice' "$(dirname -- "$1")"
}

# The file a path names after following every symlink: sluice edits the link's target and
# leaves the link in place.
real_file() {
    readlink -f -- "$1" || { echo "cannot resolve $1" >&2; exit 13; }
}

# fence FILE SERVICE TOKEN: lock FILE (fd 9, held until the script ends), then check the
# fencing token against the highest one this host has seen for SERVICE and record a higher
# one. A lower token exits 16 and names the seen one on stderr.
fence() {
    _dir=$(helper_dir "$1")
    _base=$(basename -- "$1")
    mkdir -p -- "$_dir" || exit 13
    exec 9>>"$_dir/$_base.lock" || exit 13
    flock -w 30 9 || exit 14
    _fence="$_dir/$_base.fence"
    # Earlier versions kept helper files beside the file, inside nginx's include globs.
    if [ -f "$1.sluice-fence" ] && [ ! -e "$_fence" ]; then mv -f -- "$1.sluice-fence" "$_fence"; fi
    rm -f -- "$1.sluice-fence" "$1.sluice-bak"
    _seen=$(awk -v s="$2" '$1==s {print $2}' "$_fence" 2>/dev/null | tail -n 1)
    case $_seen in
        '') _seen=0 ;;
        *[!0-9]*) echo "$_fence is corrupt; fix or remove its $2 line" >&2; exit 13 ;;
    esac
    if [ "$_seen" -gt "$3" ]; then echo "sluice-fence-seen $_seen" >&2; exit 16; fi
    if [ "$_seen" -ne "$3" ]; then
        { awk -v s="$2" '$1!=s' "$_fence" 2>/dev/null; echo "$2 $3"; } >"$_fence.new" \
            && mv -f -- "$_fence.new" "$_fence" || exit 13
    fi
}

# nginx_lock TEST RELOAD: one lock per nginx instance (fd 7) for test and reload, which act on
# the whole instance whatever file changed. The instance is named by its test and reload
# commands; the lock file is opened read-only so that it works whoever created it. Its
# directory is /tmp (SLUICE_LOCK_DIR for tests; SSH passes no environment).
nginx_lock() {
    _key=$(printf '%s\n%s\n' "$1" "$2" | sha256sum | cut -c1-16)
    _lock="${SLUICE_LOCK_DIR:-/tmp}/sluice-nginx-$_key.lock"
    [ -e "$_lock" ] || (umask 022 && : >>"$_lock") 2>/dev/null
    exec 7<"$_lock" || exit 13
    flock -w 30 7 || exit 14
}

# registry_lock REGISTRY: the port registry's lock (fd 8), for every writer.
registry_lock() {
    mkdir -p -- "$(dirname -- "$1")" || exit 13
    exec 8>>"$1.sluice-lock" || exit 13
    flock -w 30 8 || exit 14
}

# sha FILE: the SHA-256 of a file's bytes (of nothing when it does not exist).
sha() {
    if [ -e "$1" ]; then sha256sum <"$1" | cut -d' ' -f1; else printf '' | sha256sum | cut -d' ' -f1; fi
}

# hex FILE: the file's bytes as hex, so they cross the channel unchanged whatever they are.
hex() {
    od -An -v -tx1 <"$1" | tr -d ' \n'
}
