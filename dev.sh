#!/usr/bin/env bash
# Servin developer entry point.  Run as root on a Debian 12 machine:
#   ./dev.sh demo   - install what is needed and run a busybox container
#   ./dev.sh test   - install what is needed and run the whole test suite
#   ./dev.sh bench  - benchmarks: servin-runc against runc/crun, same run
#   ./dev.sh setup  - only install (apt packages, .venv, the build)
set -euo pipefail
cd "$(dirname "$0")"
TOP=$PWD
VENV=$TOP/.venv
# Debian's interpreter: it starts in ~7 ms, where a pyenv shim costs ~70 ms
# on every runtime invocation.
PY=/usr/bin/python3

APT_PKGS=(python3 python3-venv python3-dev gcc make pkg-config libseccomp-dev musl-tools
          busybox-static runc crun containerd hyperfine time iproute2 procps util-linux
          uidmap criu)

need_apt() {
    local missing=()
    for p in "${APT_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "dev.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

setup() {
    if [ "$(id -u)" != 0 ]; then echo "dev.sh: run as root" >&2; exit 1; fi
    need_apt
    if [ ! -x "$VENV/bin/python3" ]; then
        "$PY" -m venv "$VENV"
    fi
    local stamp=$VENV/.deps-2
    if [ ! -e "$stamp" ]; then
        "$VENV/bin/pip" install -q --disable-pip-version-check \
            "setuptools>=65" wheel pytest hypothesis grpcio-tools protobuf jsonschema
        touch "$stamp"
    fi
    # Always rebuild: the install is a plain (non-editable) one so the
    # runtime's import path stays short.
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation --no-deps "$TOP" \
        || { echo "dev.sh: build failed" >&2; exit 1; }
    rm -rf "$TOP/build" "$TOP"/*.egg-info
    # pip writes scripts with a bare interpreter line; servin-runc's
    # launcher wants -IS (no site, no .pth files: ~10 ms a call)
    local launcher
    for launcher in servin-runc containerd-shim-servin-v2; do
        sed -i "1s|.*|#!$VENV/bin/python3 -IS|" "$VENV/bin/$launcher"
    done
}

demo() {
    setup
    DEMO_WORK=$(mktemp -d /tmp/servin-demo.XXXXXX)
    trap 'rm -rf "$DEMO_WORK"' EXIT
    local work=$DEMO_WORK
    mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc"
    cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
    # relative links: `busybox --install -s` would point at the host path
    for applet in $(/bin/busybox --list); do
        [ -e "$work/bundle/rootfs/bin/$applet" ] || ln -s busybox "$work/bundle/rootfs/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" > "$work/bundle/rootfs/etc/passwd"
    echo "root:x:0:" > "$work/bundle/rootfs/etc/group"
    ( cd "$work/bundle" && "$VENV/bin/servin-runc" spec )
    "$VENV/bin/python3" - "$work/bundle/config.json" <<'PYEOF'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg["process"]["terminal"] = False
cfg["process"]["args"] = ["sh", "-c",
    "echo hello from servin: pid $$ on $(hostname); id; ls /; cat /proc/self/cgroup | head -3"]
json.dump(cfg, open(path, "w"), indent=2)
PYEOF
    echo "+ servin-runc --root $work/state run --bundle $work/bundle demo"
    "$VENV/bin/servin-runc" --root "$work/state" run --bundle "$work/bundle" demo
    echo "+ exit status $?"
}

run_tests() {
    setup
    # Default: the whole suite; arguments narrow it (they go to pytest).
    local args=("$@")
    ((${#args[@]})) || args=(tests)
    PATH=$VENV/bin:$PATH "$VENV/bin/pytest" -p no:cacheprovider -q -ra "${args[@]}"
}

bench() {
    setup
    PATH=$VENV/bin:$PATH "$VENV/bin/python3" "$TOP/tests/bench/run.py" "$@"
}

case "${1:-}" in
    setup) setup ;;
    demo) demo ;;
    test) shift; run_tests "$@" ;;
    bench) shift; bench "$@" ;;
    *) echo "usage: $0 demo|test [pytest args]|bench [args]|setup" >&2; exit 2 ;;
esac
