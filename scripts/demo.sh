#!/bin/bash
# README command one: install, build, and place a demo call.
# For now the demo is an echo call: SIPp calls the echo pipeline, plays two
# seconds of audio, and the script prints the call's signalling and how much
# audio came back.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec python3 examples/echo_demo.py "$@"
