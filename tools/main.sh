#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: install what is missing, build the demo app for the qemu board, load it over
# the simulated serial link, train, and print the harness report.
# Usage: bash tools/main.sh [app] (default: cct_lora; e.g. hello, deep_ae, cct_lastlayer)
set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
echo "[1/3] checking and installing the toolchain and Python packages"
# shellcheck disable=SC1091
. tools/setup.sh
set -eu
APP="${1:-cct_lora}"
echo "[2/3] building app '$APP' for target qemu"
scons -Q -j2 target=qemu app="$APP"
echo "[3/3] loading '$APP' over the serial link into the qemu board (8 harts, -icount) and running it"
scons -Q target=qemu app="$APP" run=1
