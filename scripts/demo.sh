#!/bin/bash
# README command one: install, build, and place a demo call.
# The gst-sip-agent server answers on examples/lawfirm.conf (four offices);
# SIPp dials one office's number and plays a caller synthesized by flite;
# the demo prints the conversation as the server reports it (what the agent
# heard and said), then the call's JSON record. examples/echo_demo.py is
# the echo-only variant.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec python3 examples/server_demo.py "$@"
