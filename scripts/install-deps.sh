#!/bin/bash
# Installs what gst-sip-agent needs to build, run and test on Debian 12.
# Run as root. Skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  # build
  gcc pkg-config meson ninja-build python3 git xz-utils
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libsofia-sip-ua-dev libsofia-sip-ua-glib-dev libjson-glib-dev
  # SRTP in sipsrc/sipsink (meson option srtp): the libsrtp2 that
  # srtpenc/srtpdec use too
  libsrtp2-dev
  # the speech loop's embedded engines and the en-us recognition model
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us
  flite1-dev libespeak-ng-dev
  # sipplc: packet loss concealment in the receive path
  libspandsp-dev
  # run: the elements the pipelines compose with, and gst-launch-1.0
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-libav
  # pcapparse (tests decode G.722 from captures), webrtcdsp (bench/speech.py V)
  gstreamer1.0-plugins-bad
  # tests synthesize callers with the engines' own command line tools
  flite espeak-ng
  # test peers: SIPp, baresip, tshark; unshare/ip for the corpus replay
  sip-tester baresip-core tshark iproute2 util-linux procps valgrind
  # the carrier side of a trunk in test_trunk: registrar, proxy, digest auth
  kamailio
  # ... as a carrier over TLS (test_trunk tls)
  kamailio-tls-modules
  # test_tls: throwaway CA and certificates; baresip over TLS with SRTP
  # (baresip-core has the srtp module, libre the TLS)
  openssl
  # benchmarks (bench/run.py): system calls per packet
  strace
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the tests run as root.
echo "wireshark-common wireshark-common/install-setuid boolean false" \
  | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
