#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what EdgeTune needs on Debian 12 (root), only what is missing; safe to re-run.
#   - apt: the RISC-V toolchain, picolibc, qemu, python venv support
#   - .venv/ with the pinned Python packages of requirements.txt
# Source it (`. tools/setup.sh`) to get the venv activated, or run it (`bash tools/setup.sh`).
set -eu
ET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ET_APT_PACKAGES="gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf binutils-riscv64-unknown-elf qemu-system-misc"

et_die() { echo "edgetune setup: error: $*" >&2; exit 1; }
et_log() { echo "edgetune setup: $*"; }

et_missing_apt() {
    local missing=""
    for p in $ET_APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$missing python3-venv"
    command -v python3 >/dev/null || missing="$missing python3"
    echo "$missing"
}

et_install_apt() {
    local missing
    missing="$(et_missing_apt)"
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null || et_die "packages missing:$missing, and apt-get is not available (EdgeTune's set-up expects Debian 12)"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || et_die "packages missing:$missing; run as root or install sudo"
        sudo="sudo"
    fi
    et_log "installing Debian packages:$missing"
    $sudo apt-get update -qq || et_die "apt-get update failed (no network or no Debian mirror?)"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || et_die "could not install:$missing (see apt-get's message above)"
    missing="$(et_missing_apt)"
    [ -z "$missing" ] || et_die "still missing after apt-get install:$missing"
}

et_install_venv() {
    local venv="$ET_ROOT/.venv" stamp want
    want="$(sha256sum "$ET_ROOT/requirements.txt" | cut -d' ' -f1)"
    stamp="$venv/.requirements.sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
        return 0
    fi
    et_log "creating $venv with the packages of requirements.txt"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || et_die "python3 -m venv failed"
    # The machine's pip configuration may name local indexes that do not exist: pip warns about
    # each on every package; those lines are dropped, everything else pip says is kept.
    set +e
    "$venv/bin/python" -m pip install -q -r "$ET_ROOT/requirements.txt" 2>&1 \
        | grep -v "^WARNING: Location 'file://.*' is ignored"
    local rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" = 0 ] || et_die "pip could not install requirements.txt (see pip's message above)"
    echo "$want" > "$stamp"
}

et_install_apt
et_install_venv
# shellcheck disable=SC1091
. "$ET_ROOT/.venv/bin/activate"
set +eu
