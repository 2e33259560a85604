#!/bin/bash
# README command one: install, build, and place a demo call.
# SIPp calls the speech loop (sipbin with sttbridge ! agent ! ttsbridge on
# the embedded defaults) and plays a caller synthesized by flite; the demo
# prints the conversation as the agent heard and said it, the intake it
# took, and how the call ended. examples/echo_demo.py is the echo-only
# variant.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec python3 examples/agent_demo.py "$@"
