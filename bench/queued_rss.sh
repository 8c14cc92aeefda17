#!/usr/bin/env bash
# Memory per queued message and per restored session: RSS of rmqttd (storage off and on) and of
# Mosquitto (persistence false) around N QoS 1 messages queued for one offline persistent session,
# and (rmqttd with storage, Mosquitto with persistence) after a restart with S persistent sessions.
# Usage: bench/queued_rss.sh [BUILD_DIR]. Knobs: QUEUED (50000), PAYLOAD (64), SESSIONS (5000),
# PARTS ("queued restored": which measurements to run).
# Needs mosquitto, mosquitto_pub and mosquitto_sub. Prints one line per broker configuration.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-${BUILD_DIR:-build}}
[[ $BUILD = /* ]] || BUILD="$ROOT/$BUILD"
RMQTTD=${RMQTTD:-$BUILD/broker/rmqttd}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
QUEUED=${QUEUED:-50000}
PAYLOAD=${PAYLOAD:-64}
SESSIONS=${SESSIONS:-5000}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
PARTS=${PARTS:-queued restored}

WORK=$(mktemp -d /tmp/rmqtt-queued.XXXXXX)
PID=""
cleanup() {
    [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "queued_rss.sh: broker did not listen on $PORT" >&2
    return 1
}
# RSS once it has not changed for a second (bounded: 30 s).
settled_rss() {
    local a b i
    a=$(rss_kb "$1")
    for ((i = 0; i < 30; i++)); do
        sleep 1
        b=$(rss_kb "$1")
        [[ $a = "$b" ]] && break
        a=$b
    done
    echo "$a"
}

rmqttd_conf() {  # STORAGE(off|on)
    local dir=$WORK/rmqttd-$1 startups='"rmqtt-retainer"'
    mkdir -p "$dir/plugins" "$dir/data"
    [[ $1 = off ]] || startups+=', "rmqtt-session-storage"'
    cat >"$dir/rmqtt.toml" <<CONF
node.id = 1
log.to = "console"
log.level = "warn"
plugins.dir = "$dir/plugins/"
plugins.default_startups = [$startups]
listener.tcp.external.addr = "127.0.0.1:$PORT"
listener.tcp.external.allow_anonymous = true
listener.tcp.external.max_mqueue_len = 0
listener.tcp.external.max_connections = $((SESSIONS + 1024))
listener.tcp.external.session_expiry_interval = "2h"
CONF
    cat >"$dir/plugins/rmqtt-session-storage.toml" <<CONF
storage.type = "rocksdb"
storage.rocksdb.path = "$dir/data/session/{node}"
ack = "durable"
sync = "none"
CONF
    echo 'storage.type = "ram"' >"$dir/plugins/rmqtt-retainer.toml"
    echo "$dir/rmqtt.toml"
}

mosquitto_conf() {  # PERSISTENCE(false|true)
    local dir=$WORK/mosquitto-$1
    mkdir -p "$dir/data"
    # Started as root, Mosquitto switches to `user`; it must be able to write persistence_location.
    printf 'listener %s 127.0.0.1\nuser %s\nallow_anonymous true\nmax_connections -1\npersistence %s\npersistence_location %s/data/\nmax_queued_messages 0\nmax_queued_bytes 0\n' \
        "$PORT" "$(id -un)" "$1" "$dir" >"$dir/mosquitto.conf"
    echo "$dir/mosquitto.conf"
}

start() {  # KIND CONF
    if [[ $1 = mosquitto ]]; then
        "$MOSQUITTO" -c "$2" >"$WORK/broker.log" 2>&1 &
    else
        "$RMQTTD" -f "$2" >"$WORK/broker.log" 2>&1 &
    fi
    PID=$!
    wait_port
}
stop() {
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
}

payload=$(head -c "$PAYLOAD" /dev/zero | tr '\0' x)
lines=$WORK/lines
for ((i = 0; i < QUEUED; i++)); do echo "$payload"; done >"$lines"

queued_run() {  # KIND CONF LABEL
    start "$1" "$2"
    # A persistent session with one QoS 1 subscription, then offline.
    mosquitto_sub -p "$PORT" -i queued-sub -c -q 1 -t bench/queued -E
    local before after
    before=$(settled_rss "$PID")
    mosquitto_pub -p "$PORT" -i queued-pub -q 1 -t bench/queued -l <"$lines"
    after=$(settled_rss "$PID")
    echo "$3: queued=$QUEUED payload=$PAYLOAD rss_before_kb=$before rss_after_kb=$after" \
        "bytes_per_message=$(((after - before) * 1024 / QUEUED))"
    stop
}

if [[ " $PARTS " = *" queued "* ]]; then
    queued_run rmqttd "$(rmqttd_conf off)" "rmqttd storage off"
    queued_run rmqttd "$(rmqttd_conf on)" "rmqttd storage on"
    queued_run mosquitto "$(mosquitto_conf false)" "mosquitto persistence false"
fi

# Restored sessions: SESSIONS persistent sessions with one subscription each, then a graceful stop
# and a restart; RSS after the restart minus RSS of the same broker started on an empty store.
restored_run() {  # KIND CONF LABEL
    start "$1" "$2"
    local empty restored subs=() i
    empty=$(settled_rss "$PID")
    for ((i = 0; i < SESSIONS; i++)); do
        mosquitto_sub -p "$PORT" -i "restored-$i" -c -q 1 -t "bench/restored/$i" -E &
        subs+=($!)
        if ((${#subs[@]} == 64)); then
            wait "${subs[@]}"
            subs=()
        fi
    done
    ((${#subs[@]} == 0)) || wait "${subs[@]}"
    stop
    start "$1" "$2"
    restored=$(settled_rss "$PID")
    echo "$3, restart: sessions=$SESSIONS rss_empty_kb=$empty rss_restored_kb=$restored" \
        "bytes_per_session=$(((restored - empty) * 1024 / SESSIONS))"
    stop
}

if [[ " $PARTS " = *" restored "* ]]; then
    conf=$(rmqttd_conf on)
    rm -rf "$WORK/rmqttd-on/data"/*
    restored_run rmqttd "$conf" "rmqttd storage on"
    restored_run mosquitto "$(mosquitto_conf true)" "mosquitto persistence true"
fi
