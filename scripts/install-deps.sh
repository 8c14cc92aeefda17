#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and running rmqttd need.
# Idempotent: installs only what is missing, and runs `apt-get update` first only when it has
# something to install (a fresh machine has no package lists yet).
set -euo pipefail

packages=(
    # toolchain
    build-essential cmake ninja-build pkg-config ccache clang-format
    # the libFuzzer runs of the test suite (tests/fuzz)
    clang libclang-rt-14-dev
    # libraries rmqttd links or includes
    libasio-dev libssl-dev librocksdb-dev libhiredis-dev libtoml11-dev libfmt-dev
    libspdlog-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libcrypt-dev
    # WebSocket listeners: RFC 6455 framing, the HTTP upgrade request
    libwslay-dev libhttp-parser-dev
    # tests
    libgtest-dev libgmock-dev libpaho-mqtt-dev libpaho-mqttpp-dev mosquitto-clients
    redis-server openssl procps
    # benchmarks: the broker we compare against, and /usr/bin/time for peak memory
    mosquitto time
)
# The WebSocket tests with real clients: MQTT.js on Node.js (the tests install it with npm) and in
# Chromium. RMQTT_DEPS_NO_JS_TESTS=1 leaves them out (the Docker image's build stage does).
if [ "${RMQTT_DEPS_NO_JS_TESTS:-}" != 1 ]; then
    packages+=(nodejs chromium)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# npm: some Node.js builds (NodeSource's) bring their own; Debian's nodejs needs the npm package.
if [ "${RMQTT_DEPS_NO_JS_TESTS:-}" != 1 ] && ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
