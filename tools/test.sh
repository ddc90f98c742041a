#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: install what is missing, then pytest (host and qemu tests).
# Extra arguments go to pytest, e.g. `bash tools/test.sh -m "not qemu"`.
set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. tools/setup.sh
set -eu
exec python -m pytest "$@"
