#!/usr/bin/env bash
# rmqttd side by side with Mosquitto: the same workloads against each broker, reported as ratios.
# Usage: bench/run.sh [BUILD_DIR]   (default: $BUILD_DIR or build/). Builds nothing.
# Knobs (environment): see bench/README.md. The table goes to stdout and bench/results/latest.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-${BUILD_DIR:-build}}
[[ $BUILD = /* ]] || BUILD="$ROOT/$BUILD"
RMQTTD=${RMQTTD:-$BUILD/broker/rmqttd}
BENCH=${BENCH:-$BUILD/bench/rmqtt-bench}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
OUT=${OUT:-$ROOT/bench/results/latest.md}

REPEAT=${REPEAT:-3}                # runs per row and broker; the table shows the median
ROWS=${ROWS:-"qos0 qos1 persistent persistent20 overload idle recovery fanout"}
PUBS=${PUBS:-4}                    # publishers = subscribers = topics (pairs)
PAYLOAD=${PAYLOAD:-64}
COUNT_QOS0=${COUNT_QOS0:-100000}   # messages per publisher
COUNT_QOS1=${COUNT_QOS1:-50000}
WINDOW=${WINDOW:-32}               # publisher window: unacknowledged QoS 1 PUBLISHes
MAX_INFLIGHT=${MAX_INFLIGHT:-64}   # broker -> subscriber window, the same on both brokers
MQTT=${MQTT:-4}                    # 4 = MQTT 3.1.1, 5 = MQTT 5.0
BENCH_THREADS=${BENCH_THREADS:-1}
RMQTT_WORKERS=${RMQTT_WORKERS:-0}  # 0 = one per CPU rmqttd may run on (1 when pinned)
RMQTT_BUSY_POLL=${RMQTT_BUSY_POLL:-}  # node.busy_poll ("0", "50us"); empty = rmqttd's default
# Pinning: the broker on BROKER_CPUS, rmqtt-bench on BENCH_CPUS, so that both brokers get the same
# CPU and the load generator does not compete with them for it (PIN=0, or a 1-CPU machine: off).
PIN=${PIN:-1}
BROKER_CPUS=${BROKER_CPUS:-0}
BENCH_CPUS=${BENCH_CPUS:-1}
MOSQ_AUTOSAVE=${MOSQ_AUTOSAVE:-1}  # autosave_interval of the persistent-subscriber row
SESSIONS=${SESSIONS:-100000}       # recovery: sessions ...
QUEUED=${QUEUED:-10}               # ... and queued messages each
FANOUT_SUBS=${FANOUT_SUBS:-100}    # fanout (row): offline persistent subscribers ...
PERSIST20_PUBS=${PERSIST20_PUBS:-20}     # persistent20: pairs (the durable / in-memory ratio under more load)
PERSIST20_COUNT=${PERSIST20_COUNT:-20000} # ... QoS 1 msgs per publisher
FANOUT_COUNT=${FANOUT_COUNT:-2000} # ... and QoS 1 messages one publisher sends to all of them
STEP_TIMEOUT=${STEP_TIMEOUT:-300}  # seconds, any single benchmark step
PREP_TIMEOUT=${PREP_TIMEOUT:-1800} # seconds, preparing / draining the recovery data
STOP_TIMEOUT=${STOP_TIMEOUT:-300}  # seconds a broker may take to exit after SIGTERM
OVERLOAD_PUBS=${OVERLOAD_PUBS:-10} # overload: QoS 1 publishers -> one subscriber, one topic
OVERLOAD_COUNT=${OVERLOAD_COUNT:-20000}   # ... messages per publisher
OVERLOAD_MQUEUE=${OVERLOAD_MQUEUE:-1000}  # ... max_mqueue_len / max_queued_messages
OVERLOAD_INFLIGHT=${OVERLOAD_INFLIGHT:-16}     # ... broker -> subscriber window (RMQTT's 16)
OVERLOAD_WIDE=${OVERLOAD_WIDE:-65535}          # ... and rmqttd's default window, for the rate

# Per-row overrides of the pub/sub shape and broker limits (set by the rows below).
ROW_PUBS=""; ROW_SUBS=""; ROW_TOPICS=""; ROW_MQUEUE=0; ROW_OVERFLOW=backpressure; ROW_INFLIGHT=""
IDLE_CONNS=${IDLE_CONNS:-5000}     # idle: connections held open (100000: see bench/README.md)
IDLE_MORE=${IDLE_MORE:-5000}       # idle: then this many more, for the marginal KB per connection
IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-64}  # idle: handshakes in flight
IDLE_SUBSCRIBE=${IDLE_SUBSCRIBE:-0}       # idle: 1 = one subscription per connection
IDLE_KEEPALIVE=${IDLE_KEEPALIVE:-120}

for f in "$RMQTTD" "$BENCH" "$MOSQUITTO" /usr/bin/time; do
    [[ -x $f ]] || { echo "run.sh: $f not found or not executable (build first: make build)" >&2; exit 2; }
done

PIN_BROKER=()
PIN_BENCH=()
if [[ $PIN = 1 ]] && (($(nproc) >= 2)); then
    PIN_BROKER=(taskset -c "$BROKER_CPUS")
    PIN_BENCH=(taskset -c "$BENCH_CPUS")
fi

# The idle row holds IDLE_CONNS + IDLE_MORE sockets in the broker and as many in rmqtt-bench:
# every process started from here inherits this limit (root may raise the hard limit too).
if [[ " $ROWS " = *" idle "* ]]; then
    want_fds=$((IDLE_CONNS + IDLE_MORE + 4096))
    if (($(ulimit -Sn) < want_fds)); then
        ulimit -Hn "$want_fds" 2>/dev/null || true
        ulimit -Sn "$want_fds" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
    fi
    (($(ulimit -Sn) >= want_fds)) || echo "run.sh: ulimit -n is $(ulimit -Sn), below the $want_fds the idle row needs" >&2
fi

WORK=$(mktemp -d /tmp/rmqtt-bench.XXXXXX)
STARTED=()   # pids of the running broker and its /usr/bin/time wrapper
STEP_PID=""  # the running benchmark step (timeout wrapping rmqtt-bench)

cleanup() {
    local p
    [[ -z $STEP_PID ]] || kill -TERM "$STEP_PID" 2>/dev/null || true
    for p in "${STARTED[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${STARTED[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    if [[ -n ${KEEP_WORK:-} ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }
now_ns() { date +%s%N; }

# step SECONDS OUT CMD...: runs CMD under `timeout` with stdout in OUT and stderr in OUT.err. It
# runs in the background and is waited for, so that a signal to this script is handled at once
# (bash defers traps while a foreground command runs). Returns CMD's status.
step() {
    local secs=$1 out=$2 rc=0
    shift 2
    timeout -k 5 "$secs" "$@" >"$out" 2>"$out.err" &
    STEP_PID=$!
    wait "$STEP_PID" || rc=$?
    STEP_PID=""
    return "$rc"
}
load1() { cut -d' ' -f1 /proc/loadavg; }

# free_port: a port below the ephemeral range (so no client connection holds it) that nothing
# accepts on. Binding can still fail (a race, or a bound socket that does not listen): launch()
# then tries another port.
free_port() {
    local port i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# wait_port PORT SECONDS: until something accepts on 127.0.0.1:PORT.
wait_port() {
    local port=$1 until=$(($(date +%s) + $2))
    while (($(date +%s) < until)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if [[ -n ${BROKER_PID:-} ]] && ! kill -0 "$BROKER_PID" 2>/dev/null; then return 1; fi
        sleep 0.02
    done
    return 1
}

# ---- broker configurations ---------------------------------------------------------------------

# rmqttd_conf DIR PORT STORAGE(off|durable|async)
rmqttd_conf() {
    local dir=$1 port=$2 storage=$3 startups='"rmqtt-retainer", "rmqtt-shared-subscription"'
    mkdir -p "$dir/plugins" "$dir/data"
    [[ $storage = off ]] || startups+=', "rmqtt-session-storage"'
    cat >"$dir/rmqtt.toml" <<EOF
node.id = 1
node.workers = $RMQTT_WORKERS
${RMQTT_BUSY_POLL:+node.busy_poll = \"$RMQTT_BUSY_POLL\"}
log.to = "console"
log.level = "info"
plugins.dir = "$dir/plugins/"
plugins.default_startups = [$startups]
listener.tcp.external.addr = "127.0.0.1:$port"
listener.tcp.external.allow_anonymous = true
listener.tcp.external.nodelay = true
listener.tcp.external.max_handshaking_limit = 2000
listener.tcp.external.max_connections = $(((IDLE_CONNS + IDLE_MORE) * 2 + 1024))
listener.tcp.external.max_inflight = ${ROW_INFLIGHT:-$MAX_INFLIGHT}
listener.tcp.external.max_mqueue_len = $ROW_MQUEUE
listener.tcp.external.mqueue_overflow = "$ROW_OVERFLOW"
listener.tcp.external.session_expiry_interval = "2h"
listener.tcp.external.message_expiry_interval = "0"
listener.tcp.external.message_retry_interval = "30s"
EOF
    cat >"$dir/plugins/rmqtt-session-storage.toml" <<EOF
storage.type = "rocksdb"
storage.rocksdb.path = "$dir/data/session/{node}"
ack = "${storage/off/durable}"
sync = "none"
EOF
    echo 'storage.type = "ram"' >"$dir/plugins/rmqtt-retainer.toml"
    echo 'strategy = "round_robin"' >"$dir/plugins/rmqtt-shared-subscription.toml"
    echo "$dir/rmqtt.toml"
}

# mosquitto_conf DIR PORT PERSISTENCE(true|false) AUTOSAVE
mosquitto_conf() {
    local dir=$1 port=$2 persistence=$3 autosave=$4
    mkdir -p "$dir/data"
    cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
# Started as root, Mosquitto switches to this user; it must be able to write persistence_location.
user $(id -un)
allow_anonymous true
max_connections -1
set_tcp_nodelay true
max_inflight_messages ${ROW_INFLIGHT:-$MAX_INFLIGHT}
max_queued_messages $ROW_MQUEUE
persistence $persistence
persistence_location $dir/data/
autosave_interval $autosave
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
EOF
    echo "$dir/mosquitto.conf"
}

# ---- broker processes --------------------------------------------------------------------------

# start_broker KIND(rmqttd|mosquitto) CONF DIR: starts it under /usr/bin/time -v (peak RSS), sets
# BROKER_PID (the broker), TIME_PID (the wrapper), BROKER_START_NS, BROKER_DIR.
start_broker() {
    local kind=$1 conf=$2 dir=$3 i
    BROKER_DIR=$dir
    BROKER_START_NS=$(now_ns)
    if [[ $kind = rmqttd ]]; then
        (cd "$dir" && exec "${PIN_BROKER[@]}" /usr/bin/time -v -o "$dir/time.txt" "$RMQTTD" -f "$conf") \
            >>"$dir/broker.log" 2>&1 &
    else
        (cd "$dir" && exec "${PIN_BROKER[@]}" /usr/bin/time -v -o "$dir/time.txt" "$MOSQUITTO" -c "$conf") \
            >>"$dir/broker.log" 2>&1 &
    fi
    TIME_PID=$!
    STARTED+=("$TIME_PID")
    BROKER_PID=""
    for i in $(seq 1 500); do
        BROKER_PID=$(awk '{print $1}' "/proc/$TIME_PID/task/$TIME_PID/children" 2>/dev/null || true)
        [[ -n $BROKER_PID ]] && break
        sleep 0.01
    done
    [[ -n $BROKER_PID ]] || { log "broker did not start (see $dir/broker.log)"; return 1; }
    STARTED+=("$BROKER_PID")
}

# stop_broker: SIGTERM, wait (bounded), SIGKILL if needed; sets BROKER_RSS_MB from time -v.
stop_broker() {
    local i
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
        kill -0 "$TIME_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$TIME_PID" 2>/dev/null; then
        log "broker $BROKER_PID did not stop in ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$BROKER_PID" 2>/dev/null || true
    fi
    wait "$TIME_PID" 2>/dev/null || true
    BROKER_RSS_MB=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' \
        "$BROKER_DIR/time.txt" 2>/dev/null || true)
    BROKER_RSS_MB=${BROKER_RSS_MB:-nan}
    STARTED=()  # both have exited: never signal these pids again (they may be reused)
}

# launch KIND VARIANT: a fresh broker in a new temp dir on a free port (BROKER_PORT); up to three
# ports are tried. VARIANT: rmqttd off|durable|async, mosquitto mem|persist|persist-default.
launch() {
    local kind=$1 variant=$2 dir conf attempt
    for attempt in 1 2 3; do
        BROKER_PORT=$(free_port) || { log "no free port found"; return 1; }
        dir=$(mktemp -d "$WORK/$kind-$variant.XXXX")
        if [[ $kind = rmqttd ]]; then
            conf=$(rmqttd_conf "$dir" "$BROKER_PORT" "$variant")
        else
            case $variant in
            mem) conf=$(mosquitto_conf "$dir" "$BROKER_PORT" false 1800) ;;
            persist) conf=$(mosquitto_conf "$dir" "$BROKER_PORT" true "$MOSQ_AUTOSAVE") ;;
            persist-default) conf=$(mosquitto_conf "$dir" "$BROKER_PORT" true 1800) ;;
            esac
        fi
        BROKER_CONF=$conf
        start_broker "$kind" "$conf" "$dir" || return 1
        wait_port "$BROKER_PORT" 60 && return 0
        log "$kind did not listen on $BROKER_PORT (attempt $attempt); log:"
        tail -5 "$dir/broker.log" >&2
        stop_broker
    done
    return 1
}

# restart KIND: the same configuration and data again (recovery).
restart() {
    start_broker "$1" "$BROKER_CONF" "$BROKER_DIR"
}

# excerpt N FILE...: the first lines of the files on one line, at most N characters (never fails).
excerpt() {
    local n=$1
    shift
    { grep -h -m3 . "$@" 2>/dev/null || true; } | tr '\n' ' ' | cut -c1-"$n"
}

# field KEY FILE: value of KEY=... in the RESULT line.
field() { sed -n 's/^RESULT .*[ ]'"$1"'=\([^ ]*\).*/\1/p' "$2" | tail -1; }

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# ---- results -----------------------------------------------------------------------------------

RESULTS="$WORK/results.tsv"   # row \t config \t broker \t metric \t value \t status
: >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
NOTES=()

# store_costs ROW CONFIG_LABEL BENCH_OUT STATUS: rmqttd's own count of what the run cost its
# session store (the "session store totals" line it logs at a graceful stop), per message
# published: operations submitted by the broker, operations the group committer wrote, and bytes
# the engine received (RocksDB: write batch data). Session and subscription records are included.
store_costs() {
    local row=$1 label=$2 out=$3 status=$4 msgs totals sub wr bytes
    msgs=$(field published "$out")
    totals=$(sed -n 's/.*session store totals: \([0-9]*\) operations submitted, \([0-9]*\) written in [0-9]* commits, .* \([0-9]*\) bytes written.*/\1 \2 \3/p' \
        "$BROKER_DIR/broker.log" | tail -1)
    [[ -n $msgs && $msgs != 0 && -n $totals ]] || return 0
    read -r sub wr bytes <<<"$totals"
    record "$row" "$label" rmqttd store_submitted_per_msg "$(awk -v a="$sub" -v m="$msgs" 'BEGIN {printf "%.3f", a / m}')" "$status"
    record "$row" "$label" rmqttd store_ops_per_msg "$(awk -v a="$wr" -v m="$msgs" 'BEGIN {printf "%.3f", a / m}')" "$status"
    record "$row" "$label" rmqttd store_bytes_per_msg "$(awk -v a="$bytes" -v m="$msgs" 'BEGIN {printf "%.1f", a / m}')" "$status"
}

# pubsub_run ROW QOS COUNT PERSISTENT KIND VARIANT CONFIG_LABEL REP: one run on a fresh broker.
pubsub_run() {
    local row=$1 qos=$2 count=$3 persistent=$4 kind=$5 variant=$6 label=$7 rep=$8 port out rc status
    record "$row" "$label" "$kind" load1 "$(load1)" ok
    launch "$kind" "$variant" || { record "$row" "$label" "$kind" error 1 "start failed"; return; }
    port=$BROKER_PORT
    out="$BROKER_DIR/bench.out"
    local args=(pubsub --port "$port" --mqtt "$MQTT" -p "${ROW_PUBS:-$PUBS}"
        -s "${ROW_SUBS:-$PUBS}" --topics "${ROW_TOPICS:-$PUBS}"
        -q "$qos" -n "$count" --payload "$PAYLOAD" --window "$WINDOW" --threads "$BENCH_THREADS"
        --id-prefix "b$rep" --topic-prefix "bench/$rep" --timeout "$STEP_TIMEOUT")
    [[ $persistent = 1 ]] && args+=(--persistent)
    # overload: messages lost after their PUBACK are what the row measures, not a failure;
    # a broker that drops stops delivering, so the wait for the rest is short.
    [[ $row = overload ]] && args+=(--idle-timeout 3)
    rc=0
    step $((STEP_TIMEOUT + 30)) "$out" "${PIN_BENCH[@]}" "$BENCH" "${args[@]}" || rc=$?
    stop_broker
    status=ok
    if ((rc == 1)) && [[ $row = overload ]] && [[ $(field missing "$out") =~ ^[1-9] ]]; then
        rc=0
    fi
    if ((rc != 0)); then
        status="exit $rc"
        NOTES+=("$row / $label / $kind run $rep: rmqtt-bench exit $rc: $(excerpt 300 "$out.err" "$out")")
    fi
    log "$row $label $kind #$rep: $(grep -h '^RESULT' "$out" | cut -c1-200) rss=${BROKER_RSS_MB}MB $status"
    for m in pub_rate deliver_rate p50_us p99_us missing; do
        record "$row" "$label" "$kind" "$m" "$(field "$m" "$out")" "$status"
    done
    [[ $kind = rmqttd && $variant != off ]] && store_costs "$row" "$label" "$out" "$status"
    record "$row" "$label" "$kind" rss_mb "$BROKER_RSS_MB" "$status"
}

# pubsub_row ROW QOS COUNT PERSISTENT KIND VARIANT CONFIG_LABEL: REPEAT runs of one configuration.
pubsub_row() {
    local rep
    for ((rep = 1; rep <= REPEAT; rep++)); do
        pubsub_run "$@" "$rep"
    done
}

# pubsub_turns ROW QOS COUNT PERSISTENT KIND:VARIANT:CONFIG_LABEL...: REPEAT runs of each
# configuration, taking turns run by run, so that a change of load on the machine during the row
# falls on every configuration alike (their ratios are what the table reports).
pubsub_turns() {
    local row=$1 qos=$2 count=$3 persistent=$4 rep conf kind variant label
    shift 4
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for conf in "$@"; do
            IFS=: read -r kind variant label <<<"$conf"
            pubsub_run "$row" "$qos" "$count" "$persistent" "$kind" "$variant" "$label" "$rep"
        done
    done
}

# fanout_row KIND VARIANT LABEL: FANOUT_SUBS persistent subscribers of one topic go offline, one
# QoS 1 publisher sends FANOUT_COUNT messages to it (rmqtt-bench offline-fill --shared-topic), so
# every message is stored for every subscriber. Publish rate (acknowledged), what the store
# received per message (rmqttd's counters, as the persistent row), and the store's size after
# the graceful stop: rmqttd `store inspect` (keys and values as stored, before compression),
# Mosquitto the size of mosquitto.db.
fanout_row() {
    local kind=$1 variant=$2 label=$3 row=fanout rep out rc status kb
    for ((rep = 1; rep <= REPEAT; rep++)); do
        record "$row" "$label" "$kind" load1 "$(load1)" ok
        launch "$kind" "$variant" || { record "$row" "$label" "$kind" error 1 "start failed"; continue; }
        out="$BROKER_DIR/fill.out"
        rc=0
        step $((STEP_TIMEOUT + 30)) "$out" "${PIN_BENCH[@]}" "$BENCH" offline-fill --port "$BROKER_PORT" --mqtt "$MQTT" \
            -s "$FANOUT_SUBS" -m "$FANOUT_COUNT" --shared-topic --publishers 1 --window "$WINDOW" \
            --payload "$PAYLOAD" --id-prefix "f$rep" --topic-prefix "fan/$rep" \
            --timeout "$STEP_TIMEOUT" || rc=$?
        stop_broker
        status=ok
        if ((rc != 0)); then
            status="exit $rc"
            NOTES+=("$row / $label / $kind run $rep: rmqtt-bench exit $rc: $(excerpt 300 "$out.err" "$out")")
        fi
        kb=""
        if [[ $kind = rmqttd ]]; then
            kb=$(timeout -k 5 "$STEP_TIMEOUT" "$RMQTTD" store inspect --json --progress 0 \
                --rocksdb "$BROKER_DIR/data/session/1" 2>>"$BROKER_DIR/inspect.err" |
                jq -r '.bytes.total / 1024' 2>/dev/null || true)
        else
            kb=$(du -k "$BROKER_DIR/data/mosquitto.db" 2>/dev/null | cut -f1 || true)
        fi
        log "$row $label $kind #$rep: $(grep -h '^RESULT' "$out" | cut -c1-200) store=${kb}KB rss=${BROKER_RSS_MB}MB $status"
        record "$row" "$label" "$kind" pub_rate "$(field fill_rate "$out")" "$status"
        record "$row" "$label" "$kind" store_kb "${kb:-nan}" "$status"
        [[ $kind = rmqttd ]] && store_costs "$row" "$label" "$out" "$status"
        record "$row" "$label" "$kind" rss_mb "$BROKER_RSS_MB" "$status"
    done
}

# recovery_row KIND VARIANT LABEL
recovery_row() {
    local kind=$1 variant=$2 label=$3 row=recovery port rep rc out status
    record "$row" "$label" "$kind" load1 "$(load1)" ok
    launch "$kind" "$variant" || { record "$row" "$label" "$kind" error 1 "start failed"; return; }
    port=$BROKER_PORT
    out="$BROKER_DIR/storm.out"
    log "$row $label $kind: preparing $SESSIONS sessions x $QUEUED queued messages"
    rc=0
    step "$PREP_TIMEOUT" "$out" "${PIN_BENCH[@]}" "$BENCH" connect-storm --port "$port" --mqtt "$MQTT" \
        --sessions "$SESSIONS" --queued "$QUEUED" --payload "$PAYLOAD" --window "$WINDOW" \
        --publishers "$PUBS" --threads "$BENCH_THREADS" --id-prefix rec --topic-prefix rec \
        --timeout "$PREP_TIMEOUT" || rc=$?
    log "$row $label $kind: $(grep -h '^RESULT' "$out" | cut -c1-200)"
    record "$row" "$label" "$kind" fill_rate "$(field fill_rate "$out")" ok
    record "$row" "$label" "$kind" create_rate "$(field create_rate "$out")" ok
    local t0 t1
    t0=$(now_ns)
    stop_broker
    t1=$(now_ns)
    record "$row" "$label" "$kind" stop_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 1e9}')" ok
    record "$row" "$label" "$kind" prep_rss_mb "$BROKER_RSS_MB" ok
    if ((rc != 0)); then
        NOTES+=("$row / $label / $kind: connect-storm exit $rc: $(excerpt 300 "$out.err")")
        record "$row" "$label" "$kind" error 1 "prepare failed"
        return
    fi
    record "$row" "$label" "$kind" data_mb "$(du -sm "$BROKER_DIR/data" | awk '{print $1}')" ok

    # REPEAT restarts measured (recovery + one probe each), then one more restart for the drain,
    # so every measured restart loads the same sessions and messages.
    for ((rep = 1; rep <= REPEAT + 1; rep++)); do
        mv "$BROKER_DIR/broker.log" "$BROKER_DIR/broker.log.$rep.prev" 2>/dev/null || true
        restart "$kind"
        if ((rep > REPEAT)); then
            out="$BROKER_DIR/drain.out"
            rc=0
            step "$PREP_TIMEOUT" "$out" "${PIN_BENCH[@]}" "$BENCH" drain --port "$port" --mqtt "$MQTT" --wait-port \
                --sessions "$SESSIONS" --queued "$QUEUED" --threads "$BENCH_THREADS" \
                --id-prefix rec --topic-prefix rec --timeout "$PREP_TIMEOUT" || rc=$?
            log "$row $label $kind drain: $(grep -h '^RESULT' "$out" | cut -c1-240)"
            record "$row" "$label" "$kind" drain_rate "$(field rate "$out")" ok
            record "$row" "$label" "$kind" drain_missing "$(field missing "$out")" ok
            ((rc == 0)) || NOTES+=("$row / $label / $kind: drain exit $rc: $(excerpt 300 "$out" "$out.err")")
            stop_broker
            record "$row" "$label" "$kind" drain_rss_mb "$BROKER_RSS_MB" ok
            break
        fi
        out="$BROKER_DIR/probe.$rep.out"
        rc=0
        step "$STEP_TIMEOUT" "$out" "${PIN_BENCH[@]}" "$BENCH" probe --port "$port" --mqtt "$MQTT" --id-prefix rec \
            --topic-prefix rec --timeout "$STEP_TIMEOUT" || rc=$?
        status=ok
        ((rc == 0)) || status="exit $rc"
        local tcp connack
        tcp=$(field tcp_epoch_ns "$out")
        connack=$(field connack_epoch_ns "$out")
        if [[ -n $tcp && $tcp != 0 ]]; then
            record "$row" "$label" "$kind" listen_ms "$(awk -v a="$BROKER_START_NS" -v b="$tcp" 'BEGIN {printf "%.0f", (b - a) / 1e6}')" "$status"
            record "$row" "$label" "$kind" connack_ms "$(awk -v a="$BROKER_START_NS" -v b="$connack" 'BEGIN {printf "%.0f", (b - a) / 1e6}')" "$status"
        fi
        if [[ $kind = rmqttd ]]; then
            local rec_ms
            rec_ms=$(sed -n 's/.*recovered [0-9]* sessions.* in \([0-9]*\) ms.*/\1/p' "$BROKER_DIR/broker.log" | tail -1)
            record "$row" "$label" "$kind" recovered_ms "${rec_ms:-nan}" "$status"
        fi
        log "$row $label $kind restart #$rep: $(grep -h '^RESULT' "$out" | cut -c1-240) $status"
        stop_broker
        record "$row" "$label" "$kind" rss_mb "$BROKER_RSS_MB" "$status"
    done
}

# idle_row KIND VARIANT LABEL REP: IDLE_CONNS idle connections on a fresh broker; the broker's
# VmRSS before and after them gives KB per connection, the connect phase gives connections/s.
# One run; the caller alternates the brokers run by run (the connect rate is a short burst, so a
# change of load on the machine would otherwise fall on one broker's runs only).
idle_row() {
    local kind=$1 variant=$2 label=$3 rep=$4 row=idle out rc status
    record "$row" "$label" "$kind" load1 "$(load1)" ok
    launch "$kind" "$variant" || { record "$row" "$label" "$kind" error 1 "start failed"; return; }
    out="$BROKER_DIR/idle.out"
    local args=(idle --port "$BROKER_PORT" --mqtt "$MQTT" -n "$IDLE_CONNS"
        --concurrency "$IDLE_CONCURRENCY" --keep-alive "$IDLE_KEEPALIVE"
        --more "$IDLE_MORE" --broker-pid "$BROKER_PID" --id-prefix "idle$rep"
        --topic-prefix "idle/$rep" --timeout "$STEP_TIMEOUT")
    [[ $IDLE_SUBSCRIBE = 1 ]] && args+=(--subscribe)
    rc=0
    step $((STEP_TIMEOUT + 30)) "$out" "${PIN_BENCH[@]}" "$BENCH" "${args[@]}" || rc=$?
    stop_broker
    status=ok
    if ((rc != 0)); then
        status="exit $rc"
        NOTES+=("$row / $label / $kind run $rep: rmqtt-bench exit $rc: $(excerpt 300 "$out.err" "$out")")
    fi
    log "$row $label $kind #$rep: $(grep -h '^RESULT' "$out" | cut -c1-240) $status"
    local metrics=(connect_rate hs_p99_us bench_cpu_us broker_cpu_us kb_per_conn)
    ((IDLE_MORE > 0)) && metrics+=(kb_marginal)
    for m in "${metrics[@]}"; do
        record "$row" "$label" "$kind" "$m" "$(field "$m" "$out")" "$status"
    done
    record "$row" "$label" "$kind" rss_mb "$BROKER_RSS_MB" "$status"
}

# ---- run ---------------------------------------------------------------------------------------

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
log "load average before: $START_LOAD; work dir $WORK"

for row in $ROWS; do
    case $row in
    qos0)
        pubsub_turns qos0 0 "$COUNT_QOS0" 0 "rmqttd:off:storage off" "mosquitto:mem:storage off"
        ;;
    qos1)
        pubsub_turns qos1 1 "$COUNT_QOS1" 0 "rmqttd:off:storage off" "mosquitto:mem:storage off"
        ;;
    persistent)
        pubsub_turns persistent 1 "$COUNT_QOS1" 1 "rmqttd:durable:ack=durable" \
            "rmqttd:async:ack=async" "rmqttd:off:storage off" "mosquitto:persist:mosquitto"
        ;;
    persistent20)
        ROW_PUBS=$PERSIST20_PUBS ROW_SUBS=$PERSIST20_PUBS ROW_TOPICS=$PERSIST20_PUBS
        pubsub_turns persistent20 1 "$PERSIST20_COUNT" 1 "rmqttd:durable:ack=durable" \
            "rmqttd:off:storage off" "mosquitto:persist:mosquitto"
        ROW_PUBS=""; ROW_SUBS=""; ROW_TOPICS=""
        ;;
    overload)
        ROW_PUBS=$OVERLOAD_PUBS ROW_SUBS=1 ROW_TOPICS=1 ROW_MQUEUE=$OVERLOAD_MQUEUE ROW_INFLIGHT=$OVERLOAD_INFLIGHT
        pubsub_row overload 1 "$OVERLOAD_COUNT" 0 rmqttd off "qos1 backpressure"
        ROW_OVERFLOW=drop pubsub_row overload 1 "$OVERLOAD_COUNT" 0 rmqttd off "qos1 drop"
        pubsub_row overload 1 "$OVERLOAD_COUNT" 0 mosquitto mem "mosquitto qos1"
        ROW_INFLIGHT=$OVERLOAD_WIDE
        pubsub_row overload 1 "$OVERLOAD_COUNT" 0 rmqttd off "qos1 wide"
        pubsub_row overload 1 "$OVERLOAD_COUNT" 0 mosquitto mem "qos1 wide"
        pubsub_row overload 0 "$OVERLOAD_COUNT" 0 rmqttd off "qos0"
        pubsub_row overload 0 "$OVERLOAD_COUNT" 0 mosquitto mem "qos0"
        ROW_PUBS=""; ROW_SUBS=""; ROW_TOPICS=""; ROW_MQUEUE=0; ROW_INFLIGHT=""
        ;;
    recovery)
        recovery_row rmqttd durable "ack=durable"
        recovery_row mosquitto persist-default "mosquitto"
        ;;
    fanout)
        fanout_row rmqttd durable "ack=durable"
        fanout_row mosquitto persist "mosquitto"
        ;;
    idle)
        for ((rep = 1; rep <= REPEAT; rep++)); do
            idle_row rmqttd off "storage off" "$rep"
            idle_row mosquitto mem "storage off" "$rep"
        done
        ;;
    *) log "unknown row '$row' (rows: qos0 qos1 persistent persistent20 overload recovery idle fanout)" ;;
    esac
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- table -------------------------------------------------------------------------------------

# med ROW CONFIG KIND METRIC: median over the runs.
med() {
    awk -F'\t' -v r="$1" -v c="$2" -v k="$3" -v m="$4" \
        '$1 == r && $2 == c && $3 == k && $4 == m && $5 != "" && $5 != "nan" {print $5}' \
        "$RESULTS" | median
}
has() { awk -F'\t' -v r="$1" -v c="$2" -v k="$3" -v m="$4" '$1 == r && $2 == c && $3 == k && $4 == m {f = 1} END {exit !f}' "$RESULTS"; }
statuses() {
    awk -F'\t' -v r="$1" -v c="$2" -v k="$3" '$1 == r && $2 == c && $3 == k && $6 != "ok" {print $6}' \
        "$RESULTS" | sort -u | tr '\n' ' '
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "nan" || b == "nan" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
# fmt VALUE [DECIMALS]: DECIMALS (default 1) for a fraction below 1000.
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN {if (v == "nan" || v == "") print "-"; else if (v >= 1000) printf "%.0f", v; else if (v == int(v)) printf "%d", v; else printf "%." d "f", v}'; }

# line ROW_LABEL ROW CONFIG MOSQ_CONFIG METRIC UNIT
line() {
    local label=$1 row=$2 cfg=$3 mcfg=$4 metric=$5 unit=$6 r m note
    has "$row" "$cfg" rmqttd "$metric" || has "$row" "$mcfg" mosquitto "$metric" || return 0
    r=$(med "$row" "$cfg" rmqttd "$metric")
    m=$(med "$row" "$mcfg" mosquitto "$metric")
    note=$(statuses "$row" "$cfg" rmqttd)
    [[ -z $note ]] || note="rmqttd: $note"
    local mn
    mn=$(statuses "$row" "$mcfg" mosquitto)
    [[ -z $mn ]] || note="$note mosquitto: $mn"
    local dec=1
    [[ $unit = ops ]] && dec=2
    [[ $metric = kb_* ]] && dec=3
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$metric ($unit)" "$(fmt "$r" "$dec")" \
        "$(fmt "$m" "$dec")" "$(ratio "$r" "$m")" "$(fmt "$(med "$row" "$cfg" rmqttd load1)")" "$note"
}

{
    echo "# rmqttd vs Mosquitto: latest run"
    echo
    where="shared by client and broker (not pinned)"
    ((${#PIN_BROKER[@]} == 0)) || where="each broker pinned to CPU $BROKER_CPUS, rmqtt-bench to CPU $BENCH_CPUS (taskset)"
    echo "- date: $START_DATE; host: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $where"
    echo "- load average (1, 5, 15 min): before $START_LOAD, after $END_LOAD (other work was running on this machine)"
    echo "- rmqttd: $("$RMQTTD" -V 2>&1 | head -1); Mosquitto: $("$MOSQUITTO" -h 2>&1 | sed -n 's/^mosquitto version //p' | head -1)"
    echo "- each figure is the median of $REPEAT runs, each run on a freshly started broker"
    if [[ " $ROWS " = *" qos0 "* || " $ROWS " = *" qos1 "* || " $ROWS " = *" persistent "* ]]; then
        echo "- pub/sub rows: $PUBS publishers -> $PUBS subscribers (one topic per pair), ${PAYLOAD}-byte payload, MQTT level $MQTT,"
        echo "  QoS 0: $COUNT_QOS0 msgs per publisher; QoS 1: $COUNT_QOS1 msgs per publisher, publisher window $WINDOW, broker max inflight $MAX_INFLIGHT"
    fi
    [[ " $ROWS " != *" persistent20 "* ]] || echo "- persistent20: $PERSIST20_PUBS publishers -> $PERSIST20_PUBS persistent subscribers (one topic per pair), $PERSIST20_COUNT QoS 1 msgs per publisher, otherwise as the pub/sub rows"
    [[ " $ROWS " != *" overload "* ]] || echo "- overload: $OVERLOAD_PUBS publishers -> 1 subscriber on one topic, $OVERLOAD_COUNT msgs per publisher, publisher window $WINDOW, broker max inflight $OVERLOAD_INFLIGHT (and $OVERLOAD_WIDE), queue limit $OVERLOAD_MQUEUE on both; missing = acknowledged to the publisher but never delivered"
    [[ " $ROWS " != *" recovery "* ]] || echo "- recovery: $SESSIONS sessions x $QUEUED queued QoS 1 messages, graceful stop, restarted $REPEAT times (times from process start), then once more to drain and verify"
    [[ " $ROWS " != *" fanout "* ]] || echo "- fanout: 1 publisher -> $FANOUT_SUBS offline persistent subscribers of one topic, $FANOUT_COUNT QoS 1 msgs, ${PAYLOAD}-byte payload, publisher window $WINDOW, MQTT level $MQTT; store_kb = the store after the graceful stop (rmqttd: \`store inspect\` bytes; Mosquitto: mosquitto.db, autosave_interval $MOSQ_AUTOSAVE); store_*_per_msg include the $FANOUT_SUBS sessions' own records"
    [[ " $ROWS " != *" idle "* ]] || echo "- idle: $IDLE_CONNS connections (MQTT level $MQTT, clean, keep alive $IDLE_KEEPALIVE, subscriptions: $([[ $IDLE_SUBSCRIBE = 1 ]] && echo one each || echo none)), $IDLE_CONCURRENCY handshakes in flight; kb_per_conn = broker VmRSS after - before, / connections; then $IDLE_MORE more: kb_marginal = the growth of VmRSS / $IDLE_MORE (what a further connection costs, without the one-off costs of the first ones)"
    echo "- ratio = rmqttd / Mosquitto: above 1 is better for msg/s, below 1 is better for us, ms and MB"
    echo
    echo "| row | metric | rmqttd | Mosquitto | ratio | load (1m) | notes |"
    echo "|---|---|---:|---:|---:|---:|---|"
    for row in $ROWS; do
        case $row in
        qos0 | qos1)
            for metric in pub_rate:msg/s deliver_rate:msg/s p50_us:us p99_us:us rss_mb:MB; do
                line "$row pub/sub, clean, storage off" "$row" "storage off" "storage off" "${metric%%:*}" "${metric#*:}"
            done
            ;;
        persistent)
            for cfg in "ack=durable" "ack=async" "storage off"; do
                for metric in pub_rate:msg/s deliver_rate:msg/s p50_us:us p99_us:us rss_mb:MB \
                    store_submitted_per_msg:ops store_ops_per_msg:ops store_bytes_per_msg:B; do
                    line "QoS 1 to persistent subs, rmqttd $cfg vs mosquitto persistence (autosave_interval $MOSQ_AUTOSAVE)" \
                        persistent "$cfg" mosquitto "${metric%%:*}" "${metric#*:}"
                done
            done
            ;;
        persistent20)
            for cfg in "ack=durable" "storage off"; do
                for metric in pub_rate:msg/s p50_us:us p99_us:us rss_mb:MB \
                    store_submitted_per_msg:ops store_ops_per_msg:ops store_bytes_per_msg:B; do
                    line "QoS 1 to persistent subs, $PERSIST20_PUBS pairs, rmqttd $cfg vs mosquitto persistence (autosave_interval $MOSQ_AUTOSAVE)" \
                        persistent20 "$cfg" mosquitto "${metric%%:*}" "${metric#*:}"
                done
            done
            # The durable rate against rmqttd's own in-memory rate (the Mosquitto column holds
            # rmqttd storage off here).
            if has persistent20 "ack=durable" rmqttd pub_rate && has persistent20 "storage off" rmqttd pub_rate; then
                d=$(med persistent20 "ack=durable" rmqttd pub_rate)
                o=$(med persistent20 "storage off" rmqttd pub_rate)
                printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
                    "QoS 1 to persistent subs, $PERSIST20_PUBS pairs: rmqttd ack=durable / rmqttd storage off (in the Mosquitto column)" \
                    "pub_rate (msg/s)" "$(fmt "$d" 1)" "$(fmt "$o" 1)" "$(ratio "$d" "$o")" \
                    "$(fmt "$(med persistent20 "ack=durable" rmqttd load1)")" ""
            fi
            ;;
        overload)
            for cfg in "qos1 backpressure" "qos1 drop"; do
                for metric in pub_rate:msg/s deliver_rate:msg/s missing:msgs rss_mb:MB; do
                    line "overload $OVERLOAD_PUBS -> 1, QoS 1, rmqttd ${cfg#qos1 } vs mosquitto, queue $OVERLOAD_MQUEUE, inflight $OVERLOAD_INFLIGHT" \
                        overload "$cfg" "mosquitto qos1" "${metric%%:*}" "${metric#*:}"
                done
            done
            for metric in pub_rate:msg/s deliver_rate:msg/s missing:msgs rss_mb:MB; do
                line "overload $OVERLOAD_PUBS -> 1, QoS 1, inflight $OVERLOAD_WIDE (rmqttd backpressure)" \
                    overload "qos1 wide" "qos1 wide" "${metric%%:*}" "${metric#*:}"
            done
            for metric in deliver_rate:msg/s rss_mb:MB; do
                line "overload $OVERLOAD_PUBS -> 1, QoS 0" overload qos0 qos0 "${metric%%:*}" "${metric#*:}"
            done
            ;;
        recovery)
            for metric in create_rate:sessions/s fill_rate:msg/s prep_rss_mb:MB stop_s:s data_mb:MB listen_ms:ms connack_ms:ms recovered_ms:ms rss_mb:MB drain_rate:msg/s drain_rss_mb:MB drain_missing:msgs; do
                line "recovery, $SESSIONS x $QUEUED" recovery "ack=durable" mosquitto "${metric%%:*}" "${metric#*:}"
            done
            ;;
        fanout)
            for metric in pub_rate:msg/s store_kb:KB store_submitted_per_msg:ops store_ops_per_msg:ops store_bytes_per_msg:B rss_mb:MB; do
                line "fanout 1 -> $FANOUT_SUBS persistent, QoS 1, rmqttd ack=durable vs mosquitto persistence" \
                    fanout "ack=durable" mosquitto "${metric%%:*}" "${metric#*:}"
            done
            ;;
        idle)
            for metric in connect_rate:conn/s hs_p99_us:us bench_cpu_us:us broker_cpu_us:us kb_per_conn:KB kb_marginal:KB rss_mb:MB; do
                line "idle connections, $IDLE_CONNS" idle "storage off" "storage off" "${metric%%:*}" "${metric#*:}"
            done
            ;;
        esac
    done
    echo
    if ((${#NOTES[@]})); then
        echo "Failures during the run:"
        echo
        for n in "${NOTES[@]}"; do echo "- $n"; done
        echo
    fi
    echo "Raw per-run values: rows of (row, config, broker, metric, value, status)."
    echo
    echo '```'
    cat "$RESULTS"
    echo '```'
} >"$WORK/latest.md"

mkdir -p "$(dirname "$OUT")"
cp "$WORK/latest.md" "$OUT"
cat "$OUT"
