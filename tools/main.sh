#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: install what is missing, build the demo app for the qemu board, load it over
# the simulated serial link, and let it learn on the device: CCT-2 pretrained on scanned digits
# adapts with LoRA to a second sensor's images, which the host sends over the serial link as
# the device asks for them; the device measures its accuracy on held-out images before, during
# and after. Prints a progress line, then the harness report (verbose=1: the raw device log).
# Usage: bash tools/main.sh [app] (default: digits_lora; e.g. cct_lora, hello, deep_ae)
set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
echo "[1/3] checking and installing the toolchain and Python packages"
# shellcheck disable=SC1091
. tools/setup.sh
set -eu
APP="${1:-digits_lora}"
echo "[2/3] building app '$APP' for target qemu"
scons -Q -j2 target=qemu app="$APP"
echo "[3/3] loading '$APP' over the serial link into the qemu board (8 harts, -icount) and running it"
scons -Q target=qemu app="$APP" run=1
