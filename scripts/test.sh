#!/bin/bash
# README command two: install, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec meson test -C build --print-errorlogs --num-processes 2 "$@"
