#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: install what is missing, build the demo app for the qemu board, run it, and
# print its per-core report. Usage: bash tools/main.sh [app] (default: hello)
set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
echo "[1/3] checking and installing the toolchain and Python packages"
# shellcheck disable=SC1091
. tools/setup.sh
set -eu
APP="${1:-hello}"
echo "[2/3] building app '$APP' for target qemu"
scons -Q -j2 target=qemu app="$APP"
echo "[3/3] running '$APP' on the qemu board (8 harts, -icount)"
scons -Q target=qemu app="$APP" run=1
