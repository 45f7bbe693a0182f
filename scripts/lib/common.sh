# Shared set-up for scripts/check, scripts/demo and the benchmarks: install the Debian packages the
# build needs (only the missing ones), bootstrap autotools, configure and build.
# Sourced, not run. Uses: LCT_TOP (source tree), LCT_BUILDDIR (default $LCT_TOP/build).

LCT_DEB_PACKAGES="autoconf automake libtool pkg-config make gcc check libsubunit-dev \
libjansson-dev libsqlite3-dev sqlite3 libopenmpi-dev openmpi-bin"

lct_say() { printf '%s: %s\n' "${LCT_SCRIPT:-lancet}" "$*" >&2; }

lct_install_deps() {
    local missing="" p
    for p in $LCT_DEB_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    lct_say "installing Debian packages:$missing"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
        { lct_say "apt-get update failed"; return 1; }
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null || { lct_say "apt-get install failed for:$missing"; return 1; }
}

# lct_build DIR [configure options...]: bootstrap when needed, configure DIR once per option set,
# build everything.
lct_build() {
    local dir=$1
    shift
    if [ ! -x "$LCT_TOP/configure" ] || [ "$LCT_TOP/configure.ac" -nt "$LCT_TOP/configure" ]; then
        lct_say "bootstrapping (autoreconf)"
        (cd "$LCT_TOP" && autoreconf -fi >/dev/null 2>&1) ||
            (cd "$LCT_TOP" && autoreconf -fi) || return 1
    fi
    mkdir -p "$dir"
    local want="$*"
    if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.lct-configure-args" 2>/dev/null)" != "$want" ]; then
        lct_say "configuring $dir ($want)"
        (cd "$dir" && "$LCT_TOP/configure" -q "$@") || return 1
        printf '%s' "$want" >"$dir/.lct-configure-args"
    fi
    lct_say "building in $dir"
    make -C "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; return 1; }
}
