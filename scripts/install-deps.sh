#!/usr/bin/env bash
# Installs the Debian packages pushcap needs to build and test, and nothing else.
# As root it runs apt-get; otherwise it prints the exact command and fails, so a
# developer never gets a half-configured build.
set -euo pipefail

PACKAGES=(
    g++ cmake ninja-build pkg-config make
    libboost-dev libpcap-dev libzmq3-dev cppzmq-dev
    protobuf-compiler libprotobuf-dev libspdlog-dev catch2 liblua5.4-dev
    tcpdump tshark iproute2 python3-zmq python3-protobuf strace
    clang libclang-rt-14-dev systemd libgnutls28-dev gnutls-bin
)
# RCLONE targets and their tests: rclone, and npm for s3rver (tests/rclone/install_s3rver.sh).
# Debian ships npm as its own package; NodeSource's nodejs bundles it (and conflicts with
# Debian's npm), so npm is only asked for when no npm command exists.
PACKAGES+=(rclone nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
# pushcap-web (cpp-httplib) and its tests: a real Prometheus (promtool) and headless Chromium.
PACKAGES+=(libcpp-httplib-dev prometheus chromium chromium-driver)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "pushcap needs these Debian packages: ${missing[*]}" >&2
    echo "run as root:  apt-get update && $cmd" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends ${missing[*]}
