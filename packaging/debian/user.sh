# Shared by the agent's and the collector's postinst (scripts/package pastes it in): the
# `logwarden` system user and group, and a data folder owned by it.
#
# Every path goes through $DPKG_ROOT so that `dpkg --root DIR --force-script-chrootless`
# (the package test, and chrootless bootstrapping) installs into DIR and never touches the
# running system; it is empty in a normal install.

logwarden_user() {
    root="${DPKG_ROOT:-}"
    prefix=""
    if [ -n "$root" ]; then prefix="--prefix $root"; fi
    if ! grep -q '^logwarden:' "$root/etc/group" 2>/dev/null; then
        # shellcheck disable=SC2086
        groupadd --system $prefix logwarden
    fi
    if ! grep -q '^logwarden:' "$root/etc/passwd" 2>/dev/null; then
        # shellcheck disable=SC2086
        useradd --system $prefix --gid logwarden --home-dir /var/lib/logwarden \
            --no-create-home --shell /usr/sbin/nologin --comment "logwarden" logwarden
    fi
}

# logwarden_data_dir NAME: /var/lib/logwarden/NAME, 0750 logwarden:logwarden. An existing
# folder keeps its contents (upgrades keep data).
logwarden_data_dir() {
    root="${DPKG_ROOT:-}"
    install -d -m 0755 "$root/var/lib/logwarden"
    install -d -m 0750 "$root/var/lib/logwarden/$1"
    chown -R "$(logwarden_ids "$root")" "$root/var/lib/logwarden/$1"
}

# uid:gid of logwarden in $1/etc (numbers: a root other than / has its own passwd).
logwarden_ids() {
    uid=$(grep '^logwarden:' "$1/etc/passwd" | cut -d: -f3)
    gid=$(grep '^logwarden:' "$1/etc/group" | cut -d: -f3)
    echo "$uid:$gid"
}

# logwarden_conffile FILE: readable by the service, not by everyone (it may hold tokens).
logwarden_conffile() {
    root="${DPKG_ROOT:-}"
    if [ -e "$root$1" ]; then
        chown "root:$(logwarden_ids "$root" | cut -d: -f2)" "$root$1"
        chmod 0640 "$root$1"
    fi
}

# logwarden_unit UNIT ACTION (configure with the old version, or empty on a first install).
logwarden_unit() {
    root="${DPKG_ROOT:-}"
    if [ -n "$root" ]; then
        systemctl --root="$root" enable "$1" >/dev/null 2>&1 || true
        return 0
    fi
    if ! command -v systemctl >/dev/null 2>&1; then return 0; fi
    systemctl enable "$1" >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        # An upgrade restarts a running service (SIGTERM: a clean stop, nothing lost); a first
        # install waits for the operator's config.
        if [ -n "$2" ]; then systemctl try-restart "$1" || true; fi
    fi
}
