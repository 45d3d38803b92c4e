#!/usr/bin/env bash
# The idempotency store under a sustained stream of new transfers: does expiry keep pace, and
# what does a key cost? (issue 23). Every request is a new transfer (a reference never used
# before), so the gateway claims, keeps and later expires one key per request.
#
#   benches/store_growth.sh                      # embedded store: ttl 20s, 100 s of load, 30 s idle
#   benches/store_growth.sh --cluster            # the keys in a redis-server the script starts
#   benches/store_growth.sh --ttl 20s --seconds 100 --idle 30 --conns 16 --no-build
#
# Every 5 s it prints: seconds, requests answered so far, the store's gauges (entries, bytes),
# the store's real size (the embedded file, or Redis's used_memory), and the gateway's RSS. At
# the end: the peak entries and bytes per key (file or Redis memory over entries at that time).
# With expiry keeping pace, entries plateau at about rate x ttl and the size with them.
#
# BENCH_GATEWAY_BIN runs another build of the gateway; BENCH_GATEWAY_EXTRA (JSON) is deep-merged
# into its configuration, e.g. '{"gateway":{"audit":{"enabled":false}}}'.
#
# The gateway runs in verify mode over plain HTTP in front of fake-blnk (release builds of the
# workspace), with the audit log on; everything on 127.0.0.1, on free ports, in a temporary
# directory removed on exit with every process the script started. Needs wrk and curl (and
# redis-server with --cluster).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TTL=20s
SECONDS_LOAD=100
IDLE=30
CONNS=16
CLUSTER=0
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --ttl) TTL="$2"; shift ;;
        --seconds) SECONDS_LOAD="$2"; shift ;;
        --idle) IDLE="$2"; shift ;;
        --conns) CONNS="$2"; shift ;;
        --cluster) CLUSTER=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done
[[ "$SECONDS_LOAD" =~ ^[1-9][0-9]*$ && "$IDLE" =~ ^[0-9]+$ && "$CONNS" =~ ^[1-9][0-9]*$ ]] || {
    echo "--seconds, --idle and --conns take integers" >&2
    exit 2
}
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done
[ "$CLUSTER" = 0 ] || command -v redis-server >/dev/null || { echo "needs redis-server" >&2; exit 2; }

[ "$BUILD" = 0 ] || cargo build --quiet --release --locked --workspace
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
GATEWAY="${BENCH_GATEWAY_BIN:-$target_dir/release/blnk-gateway}"
FAKE="$target_dir/release/fake-blnk"

TMP=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # $1 = port, $2 = the log of the process that should listen there
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "nothing on port $1:" >&2
    cat "$2" >&2
    exit 1
}

KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$KEY" >"$TMP/master.key"
BLNK_PORT=$(free_port) GW_PORT=$(free_port) ADMIN_PORT=$(free_port)
BLNK_SERVER_PORT=$BLNK_PORT BLNK_SERVER_SECRET_KEY_FILE="$TMP/master.key" "$FAKE" 2>"$TMP/fake.log" &
pids+=($!)
wait_port "$BLNK_PORT" "$TMP/fake.log"

cluster='{}'
if [ "$CLUSTER" = 1 ]; then
    REDIS_PORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP" >/dev/null &
    pids+=($!)
    wait_port "$REDIS_PORT" /dev/null
    cluster="{\"enabled\":true,\"redis\":\"redis://127.0.0.1:$REDIS_PORT/0\"}"
fi
cat >"$TMP/blnk.json" <<EOF
{"gateway": {"listen": "127.0.0.1:$GW_PORT", "upstream": "http://127.0.0.1:$BLNK_PORT",
  "allow_plaintext": true, "admin_listen": "127.0.0.1:$ADMIN_PORT",
  "secret_key_file": "$TMP/master.key", "audit": {"path": "$TMP/audit.log"},
  "idempotency": {"path": "$TMP/idempotency.redb", "ttl": "$TTL", "unknown_settle": "1s"},
  "rate_limit": {"enabled": false}, "cluster": $cluster}}
EOF
if [ -n "${BENCH_GATEWAY_EXTRA:-}" ]; then # JSON deep-merged into the configuration
    python3 - "$TMP/blnk.json" "$BENCH_GATEWAY_EXTRA" <<'PY'
import json, sys
def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a
cfg = json.load(open(sys.argv[1]))
json.dump(merge(cfg, json.loads(sys.argv[2])), open(sys.argv[1], "w"))
PY
fi
"$GATEWAY" serve --config "$TMP/blnk.json" 2>"$TMP/gateway.log" &
GW_PID=$!
pids+=($GW_PID)
wait_port "$GW_PORT" "$TMP/gateway.log"

cat >"$TMP/txn.lua" <<'EOF'
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local run = string.format("%x-%x", os.time(), math.random(0, 0x7fffffff))
local count = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Blnk-Key"] = os.getenv("KEY")
request = function()
  count = count + 1
  return wrk.format(nil, "/transactions", nil, string.format(
    '{"amount":1,"precision":100,"currency":"USD","source":"@world","destination":"@alice","allow_overdraft":true,"reference":"%s-%d","description":"growth"}',
    run, count))
end
EOF

metric() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
size() {
    if [ "$CLUSTER" = 1 ]; then
        redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'
    else
        stat -c %s "$TMP/idempotency.redb" 2>/dev/null || echo 0
    fi
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status"; }
answered() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '$1 ~ /^blnk_gateway_requests_total/ { n += $2 } END { print n + 0 }'; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GW_PID/stat"; }
base_size=$(size)
base_cpu=$(cpu_ticks) base_answered=$(answered)
echo "store: $([ "$CLUSTER" = 1 ] && echo redis || echo embedded), ttl $TTL, $SECONDS_LOAD s of load with $CONNS connections, then $IDLE s idle"
printf '%6s %10s %10s %12s %12s %10s\n' seconds answered entries gauge_bytes store_bytes rss_kb
KEY="$KEY" wrk -t1 -c"$CONNS" -d"${SECONDS_LOAD}s" -s "$TMP/txn.lua" "http://127.0.0.1:$GW_PORT" >"$TMP/wrk.out" 2>&1 &
WRK=$!
pids+=($WRK)
peak_entries=0 peak_size=0
for ((t = 5; t <= SECONDS_LOAD + IDLE; t += 5)); do
    sleep 5
    e=$(metric blnk_gateway_idempotency_entries) b=$(metric blnk_gateway_idempotency_bytes)
    s=$(size)
    printf '%6d %10s %10s %12s %12s %10s\n' "$t" "$(answered)" "$e" "$b" "$s" "$(rss_kb)"
    if [ "${e:-0}" -gt "$peak_entries" ]; then peak_entries=$e peak_size=$((s - base_size)); fi
done
wait "$WRK" || true
used=$(( $(cpu_ticks) - base_cpu )) done_n=$(( $(answered) - base_answered ))
[ "$done_n" -gt 0 ] && echo "gateway CPU: $(( used * 1000000 / $(getconf CLK_TCK) / done_n )) us per request ($done_n requests)"
grep -E "Requests/sec|Non-2xx|Socket errors" "$TMP/wrk.out" || true
if [ "$peak_entries" -gt 0 ]; then
    echo "peak: $peak_entries entries, $((peak_size / peak_entries)) bytes per key ($([ "$CLUSTER" = 1 ] && echo "Redis used_memory" || echo "file size") over entries)"
fi
