#!/usr/bin/env bash
# Side-by-side load benchmark: blnk-gateway against nginx doing the same job (issue 8).
#
#   benches/load.sh            # full run: 3 x 10 s per target and case (about 16 minutes)
#   benches/load.sh --quick    # 1 x 3 s per target and case (about 3 minutes)
#   benches/load.sh --cases idle-tls   # memory per idle TLS connection only (about a minute)
#   benches/load.sh --help     # every option
#
# Method (docs/performance.md, so the figures compare with the baseline there):
# - upstream: nginx, one worker, access_log off, answering 200 {"status":"ok"} only when
#   X-Blnk-Key is the right key (401 otherwise), so every run also proves the key arrived;
# - nginx as the reverse proxy to beat: keep-alive upstream pool, proxy_set_header X-Blnk-Key,
#   worker_processes 1, access_log off, the same certificate as the gateway;
# - the gateway in inject mode (the same job as that nginx) and in verify mode (the client sends
#   the key and the gateway checks it);
# - the proxy under test pinned to core 1, the load generator and the upstream to core 0;
# - runs alternate between targets; medians are reported, with the ratio to nginx from the same
#   run of the script.
# - idle-tls (memory, not throughput): N TLS connections (1,000 and 10,000) each used for one
#   keep-alive request, then held idle by benches/idle_conns.py; the proxy's RSS with them
#   open, less its RSS before, per connection. idle-plain, the same without TLS, is not in the
#   default set: it tells the TLS share of that memory apart. For these cases the script raises
#   its soft open-files limit (ulimit -n, inherited by the proxies and the client) to 65536, or
#   to the hard limit if that is lower.
#
# Everything runs on 127.0.0.1, on free ports, from a temporary directory that is removed on exit
# together with every process the script started. The system's nginx configuration and service
# are never used or touched. Results are printed as a Markdown table and written, with every
# single run, under the cargo target directory (not committed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ---------------------------------------------------------------------------------------------
# Gateway features measured: the real ones, as issue 8 asks. Deep-merged (jq's `*`) into the
# generated gateway configuration; @TMP@ becomes the benchmark's temporary directory and @DIR@
# the gateway's own directory in it.
# - rate limiting on: every request is checked against the per-client and the global quota.
#   The quotas are set high (the configuration's maximum rate) because the whole load comes from
#   one address at up to ~60k req/s: a refused request (429) would count as non-2xx and stop the
#   run. What is measured is the limiter's cost, not its refusals.
# - audit log on, to a file, with the default fsync policy ("batch").
# --gateway-extra (or BENCH_GATEWAY_EXTRA) is merged on top, e.g. to measure without the audit
# log: --gateway-extra '{"gateway":{"audit":{"enabled":false}}}'. Printed with every result.
GATEWAY_FEATURES_JSON='{"gateway":{
  "rate_limit":{"enabled":true,
    "per_client":{"per_second":1000000,"burst":100000},
    "global":{"per_second":1000000,"burst":100000}},
  "audit":{"enabled":true,"path":"@DIR@/audit.log"}}}'
GATEWAY_EXTRA_JSON='{}'
[ -n "${BENCH_GATEWAY_EXTRA:-}" ] && GATEWAY_EXTRA_JSON="$BENCH_GATEWAY_EXTRA"
# ---------------------------------------------------------------------------------------------

RUNS=3
DURATION=10
WARMUP=1
CONNS=64          # wrk connections (HTTP/1.1 cases)
H2_CONNS=32       # h2load connections
H2_STREAMS=8      # h2load concurrent streams per connection
PROXY_CPU="${BENCH_PROXY_CPU:-1}"
LOAD_CPU="${BENCH_LOAD_CPU:-0}"
ALL_CASES="h1-tls h1-plain h2-tls conn-tls post1k-tls post64k-tls txn-tls features-tls h1-tls-cluster txn-tls-cluster idle-tls idle-plain"
CASES="h1-tls h1-plain h2-tls conn-tls post1k-tls post64k-tls txn-tls idle-tls"
IDLE_CONNS="${BENCH_IDLE_CONNS:-1000 10000}"   # idle cases: connections held, in turn
IDLE_CONCURRENCY=200                           # connections being opened at once
IDLE_OPEN_TIMEOUT=120                          # seconds to open one count's connections
IDLE_HOLD_TIMEOUT=300                          # idle timeout of both proxies in the idle cases
INSTALL=1
BUILD=1
KEEP_TMP=0
WAIT_QUIET=0
RETRY_NOISY=0

usage() {
    cat <<EOF
usage: benches/load.sh [options]
  --quick              1 run x 3 s per target and case (default: $RUNS x ${DURATION} s);
                       the idle cases are not shortened
  --runs N             runs per target and case
  --duration S         seconds per run
  --cases LIST         comma-separated subset of: ${ALL_CASES// /,}
                       (a -cluster case is its base case with both gateways in cluster mode on a
                       redis-server the script starts on the load core; features-tls is h1-tls
                       against four verify-mode gateways: every feature on, audit log off, rate
                       limiting off, both off: what each feature costs under load)
                       (default: ${CASES// /,})
  --idle-conns LIST    idle cases: comma-separated connection counts, measured in turn by one
                       client per target that grows its idle connections through them
                       (default: ${IDLE_CONNS// /,}; env: BENCH_IDLE_CONNS)
  --gateway-extra J    JSON deep-merged into the gateway config after the features
                       (GATEWAY_FEATURES_JSON in this script); J may be @FILE
                       (env: BENCH_GATEWAY_EXTRA)
  --no-install         do not apt-get install missing tools
  --no-build           use the existing release binary
  --compare-bin PATH   also run PATH (another build of the gateway, say the commit before a
                       change) as gateway-verify-b in every case, in the same rounds, so a
                       before/after comparison shares the run's conditions (env:
                       BENCH_COMPARE_BIN)
  --keep-tmp           keep the temporary directory (configs, logs) for inspection
  --wait-quiet S       before each run, wait up to S seconds for the machine to be idle
                       (less than 10% of both cores busy for a second); for shared machines
  --retry-noisy N      repeat a run up to N times while other processes used more than 10%
                       of the proxy's or the load's core during it; the quietest one is kept
environment: BENCH_PROXY_CPU (default 1), BENCH_LOAD_CPU (default 0), CARGO_TARGET_DIR
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) RUNS=1; DURATION=3 ;;
        --runs) RUNS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --cases) CASES="${2//,/ }"; shift ;;
        --idle-conns) IDLE_CONNS="${2//,/ }"; shift ;;
        --gateway-extra) GATEWAY_EXTRA_JSON="$2"; shift ;;
        --no-install) INSTALL=0 ;;
        --no-build) BUILD=0 ;;
        --compare-bin) COMPARE_BIN="$2"; shift ;;
        --keep-tmp) KEEP_TMP=1 ;;
        --wait-quiet) WAIT_QUIET="$2"; shift ;;
        --retry-noisy) RETRY_NOISY="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for c in $CASES; do
    case " $ALL_CASES " in *" $c "*) ;; *) echo "unknown case: $c" >&2; exit 2 ;; esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$DURATION" =~ ^[1-9][0-9]*$ && "$WAIT_QUIET" =~ ^[0-9]+$ && "$RETRY_NOISY" =~ ^[0-9]+$ ]] || {
    echo "--runs, --duration, --wait-quiet and --retry-noisy take integers" >&2
    exit 2
}
IDLE_CONNS="${IDLE_CONNS//,/ }"
IDLE_MAX=0
for n in $IDLE_CONNS; do
    if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || [ "$n" -gt 100000 ]; then
        echo "--idle-conns takes connection counts from 1 to 100000" >&2
        exit 2
    fi
    [ "$n" -gt "$IDLE_MAX" ] && IDLE_MAX=$n
done
[ "$IDLE_MAX" -gt 0 ] || { echo "--idle-conns is empty" >&2; exit 2; }
# Increasing, without repeats: one client per target grows through them.
IDLE_CONNS=$(tr ' ' '\n' <<<"$IDLE_CONNS" | awk NF | sort -n -u | paste -sd' ')
# Throughput cases and idle (memory) cases, in the order given.
THRU_CASES="" IDLE_CASES=""
for c in $CASES; do
    case "$c" in idle-*) IDLE_CASES+="$c " ;; *) THRU_CASES+="$c " ;; esac
done
THRU_CASES="${THRU_CASES% }" IDLE_CASES="${IDLE_CASES% }"

log() { printf '[load.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools ------------------------------------------------------------------------------------
# Debian package for each command. Debian 12's nginx-light is only a transitional package that
# pulls in nginx, so nginx it is. Installing nginx may start Debian's own nginx service on
# port 80 where services may start; this script neither uses nor touches it.
ensure_tools() {
    local missing=() pkg cmd
    for pair in nginx:nginx wrk:wrk h2load:nghttp2-client openssl:openssl jq:jq \
        taskset:util-linux ss:iproute2 timeout:coreutils getconf:libc-bin python3:python3; do
        cmd="${pair%%:*}"
        pkg="${pair#*:}"
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$INSTALL" = 1 ] || die "missing tools (packages: ${missing[*]}) and --no-install given"
    command -v apt-get >/dev/null 2>&1 || die "missing tools (Debian packages: ${missing[*]}); install them"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing packages ${missing[*]}: run as root or install them"
        sudo=sudo
    fi
    log "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
ensure_tools
command -v cargo >/dev/null 2>&1 || [ "$BUILD" = 0 ] || die "cargo not found (install Rust, or --no-build)"

NCPU=$(nproc --all)
if [ "$NCPU" -le "$PROXY_CPU" ] || [ "$NCPU" -le "$LOAD_CPU" ]; then
    die "needs cores $LOAD_CPU and $PROXY_CPU; this machine has $NCPU (set BENCH_PROXY_CPU/BENCH_LOAD_CPU)"
fi
CLK_TCK=$(getconf CLK_TCK)

# The idle cases hold up to IDLE_MAX connections in one proxy process, and as many in the client:
# raise the soft open-files limit, which everything started below inherits, to 65536 or the
# hard limit if lower (raising the hard limit needs CAP_SYS_RESOURCE, which root may lack).
NOFILE_NOTE=""
if [ -n "$IDLE_CASES" ]; then
    nofile_need=$((IDLE_MAX + 1024))
    nofile_hard=$(ulimit -Hn)
    nofile_want=65536
    if [ "$nofile_hard" != unlimited ] && [ "$nofile_hard" -lt "$nofile_want" ]; then
        nofile_want=$nofile_hard
    fi
    [ "$nofile_want" -ge "$nofile_need" ] ||
        die "the idle cases need $nofile_need open files per process; the hard limit is $nofile_hard (lower --idle-conns or raise it)"
    if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$nofile_want" ]; then
        ulimit -Sn "$nofile_want"
    fi
    NOFILE_NOTE="open-files limit raised by the script to $(ulimit -Sn) (soft; hard $nofile_hard)"
    log "idle cases: $NOFILE_NOTE"
fi

# --- build ------------------------------------------------------------------------------------
case "${CARGO_TARGET_DIR:-}" in
    "") TARGET_DIR="$ROOT/target" ;;
    /*) TARGET_DIR="$CARGO_TARGET_DIR" ;;
    *) TARGET_DIR="$ROOT/$CARGO_TARGET_DIR" ;;
esac
GATEWAY_BIN="$TARGET_DIR/release/blnk-gateway"
if [ "$BUILD" = 1 ]; then
    log "cargo build --release (target dir $TARGET_DIR)"
    cargo build --release --quiet
fi
[ -x "$GATEWAY_BIN" ] || die "$GATEWAY_BIN not found (build it, or drop --no-build)"
COMPARE_BIN="${COMPARE_BIN:-${BENCH_COMPARE_BIN:-}}"
[ -z "$COMPARE_BIN" ] || [ -x "$COMPARE_BIN" ] || die "--compare-bin $COMPARE_BIN is not an executable"

# --- temporary directory and cleanup ------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/blnk-load.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$KEEP_TMP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops one process started by this script and forgets it.
stop_pid() {
    local pid="$1" keep=() p
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# A free TCP port on 127.0.0.1 below the ephemeral range, so the load's own client ports
# never collide with a listener.
USED_PORTS=" "
free_port() {
    local lo p
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
    for _ in $(seq 200); do
        p=$((10000 + RANDOM % (lo > 12000 ? lo - 10000 : 20000)))
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
            USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

wait_port() {
    local port="$1" pid="$2" what="$3"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$what exited at start (logs in $TMP)"
        [ -n "$(ss -Htln "( sport = :$port )" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    die "$what is not listening on 127.0.0.1:$port after 10 s"
}

# --- key, certificate --------------------------------------------------------------------------
KEY="$(openssl rand -hex 24)"
# ECDSA P-256, as the gateway's own development certificate (rcgen's default).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1 ||
    die "openssl could not create the test certificate"
chmod 600 "$TMP/key.pem"

# --- nginx ---------------------------------------------------------------------------------------
nginx_common() { # $1 = name (for its own pid, logs and temp paths), $2 = worker_connections
    local d="$TMP/$1"
    mkdir -p "$d/tmp"
    cat <<EOF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections ${2:-4096}; }
EOF
}
nginx_temp_paths() { # $1 = name
    local d="$TMP/$1/tmp"
    cat <<EOF
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
EOF
}

# Starts an nginx master (non-daemon) on a CPU; sets STARTED_PID.
start_nginx() { # $1 = name, $2 = cpu, $3 = port
    local name="$1" cpu="$2" port="$3"
    nginx -t -q -p "$TMP/$name/" -e "$TMP/$name/error.log" -c "$TMP/$name/nginx.conf" \
        2>"$TMP/$name/test.log" || { cat "$TMP/$name/test.log" >&2; die "nginx config $name rejected"; }
    taskset -c "$cpu" nginx -p "$TMP/$name/" -e "$TMP/$name/error.log" \
        -c "$TMP/$name/nginx.conf" >"$TMP/$name/stdout.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_port "$port" "$STARTED_PID" "nginx ($name)"
}

UPSTREAM_PORT=$(free_port)
start_upstream() {
    mkdir -p "$TMP/upstream"
    {
        nginx_common upstream
        cat <<EOF
http {
    access_log off;
$(nginx_temp_paths upstream)
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
        default_type application/json;
        location / {
            if (\$http_x_blnk_key != "$KEY") { return 401 '{"error":"invalid key"}'; }
            return 200 '{"status":"ok"}';
        }
    }
}
EOF
    } >"$TMP/upstream/nginx.conf"
    start_nginx upstream "$LOAD_CPU" "$UPSTREAM_PORT"
    UPSTREAM_PID=$STARTED_PID
}

# The reverse proxy of the baseline (docs/performance.md). Additions, all documented in the output: `http2` and an
# upstream pool of 256 for the HTTP/2 case only; `ssl_protocols TLSv1.2 TLSv1.3` as in Debian's
# stock nginx.conf (nginx 1.22's built-in default stops at TLS 1.2, the gateway negotiates 1.3),
# so both do the same TLS work; and client_body_buffer_size 128k so a 64 KiB body is kept in
# memory instead of nginx's default of spilling it to a temp file (in nginx's favour).
# The idle cases add: worker_connections above their connection count, and keepalive_timeout
# IDLE_HOLD_TIMEOUT (75 s by default) so that no connection is closed while they are measured.
start_nginx_proxy() { # $1 = port, $2 = tls|plain, $3 = h2|h1, [$4 = worker_connections, $5 = keepalive_timeout]
    local port="$1" tls="$2" h2="$3" wconns="${4:-4096}" ka_lines="" listen ssl_lines="" pool=${BENCH_NGINX_KEEPALIVE:-64}
    [ -n "${5:-}" ] && ka_lines="keepalive_timeout $5;"
    # HTTP/2: 32 x 8 = 256 requests in flight; a pool of 64 idle connections would make nginx
    # open and close an upstream connection for most requests (about 30k instead of 45k req/s
    # here). 256 is what the load needs, and the gateway's own pool size.
    [ "$h2" = h2 ] && pool=${BENCH_NGINX_KEEPALIVE:-256}
    listen="listen 127.0.0.1:$port"
    if [ "$tls" = tls ]; then
        listen+=" ssl"
        ssl_lines="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    [ "$h2" = h2 ] && listen+=" http2"
    listen+=" backlog=4096;"
    rm -rf "$TMP/nginx-proxy"
    mkdir -p "$TMP/nginx-proxy"
    {
        nginx_common nginx-proxy "$wconns"
        cat <<EOF
http {
    access_log off;
$(nginx_temp_paths nginx-proxy)
    client_body_buffer_size 128k;
    upstream blnk { server 127.0.0.1:$UPSTREAM_PORT; keepalive $pool; keepalive_requests 100000000; }
    server {
        $listen
        $ssl_lines
        keepalive_requests 100000000;
        $ka_lines
        location / {
            proxy_pass http://blnk; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_set_header X-Blnk-Key "$KEY";
        }
    }
}
EOF
    } >"$TMP/nginx-proxy/nginx.conf"
    start_nginx nginx-proxy "$PROXY_CPU" "$port"
}

# --- gateway -----------------------------------------------------------------------------------
features_json() {
    local extra="$GATEWAY_EXTRA_JSON"
    if [[ "$extra" == @* ]]; then
        extra="$(cat "${extra#@}")" || die "cannot read ${extra#@}"
    fi
    jq -e 'type == "object"' <<<"$extra" >/dev/null 2>&1 ||
        die "gateway extra config is not a JSON object: $extra"
    jq -c -n --argjson a "$GATEWAY_FEATURES_JSON" --argjson b "$extra" '$a * $b' |
        sed "s#@TMP@#$TMP#g"
}
FEATURES="$(features_json)"

# $5 (optional): JSON the case needs, merged under the features (so --gateway-extra wins).
# $6 (optional): JSON merged over everything (a features-tls variant turning a feature off).
start_gateway() { # $1 = name, $2 = port, $3 = inject|verify, $4 = tls|plain, [$5 = JSON], [$6]
    local name="$1" port="$2" mode="$3" tls="$4" d="$TMP/$1" base admin case_json="${5:-"{}"}"
    local variant="${6:-"{}"}"
    mkdir -p "$d"
    # The admin listener (metrics, health) stays on, on a port of its own.
    admin=$(free_port)
    base=$(jq -n --arg listen "127.0.0.1:$port" --arg up "http://127.0.0.1:$UPSTREAM_PORT" \
        --arg admin "127.0.0.1:$admin" \
        --arg mode "$mode" --arg cert "$TMP/cert.pem" --arg key "$TMP/key.pem" --arg tls "$tls" '
        {server: {secure: true},
         gateway: ({listen: $listen, admin_listen: $admin, upstream: $up, mode: $mode,
                    allow_networks: ["127.0.0.1/32"]}
                   + (if $tls == "tls" then {tls: {cert: $cert, key: $key}}
                      else {allow_plaintext: true} end))}')
    jq -n --argjson a "$base" --argjson c "$case_json" --argjson b "${FEATURES//@DIR@/$d}" \
        --argjson v "$variant" '$a * $c * $b * $v' >"$d/config.json"
    # A clean environment, so no BLNK_GATEWAY_* variable of the caller changes what is measured.
    env -i PATH="$PATH" BLNK_SERVER_SECRET_KEY="$KEY" \
        taskset -c "$PROXY_CPU" "${START_BIN:-$GATEWAY_BIN}" serve --config "$d/config.json" \
        >"$d/stdout.log" 2>"$d/stderr.log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_port "$port" "$STARTED_PID" "gateway ($name)"
}

# --- measuring ---------------------------------------------------------------------------------
# Processes whose CPU and memory count for a target: the nginx master and its workers, or the
# gateway process (all its threads).
proc_set() { # $1 = main pid
    echo "$1"
    pgrep -P "$1" 2>/dev/null || true
}
cpu_ticks() { # utime + stime of the set, in clock ticks
    local total=0 p
    for p in $(proc_set "$1"); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
reset_hwm() {
    local p
    for p in $(proc_set "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
}
hwm_kb() { # peak RSS since the last reset_hwm, summed over the set
    local total=0 p v
    for p in $(proc_set "$1"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }
rss_kb() { # current RSS (VmRSS) and its anonymous part (RssAnon), in KiB, summed over the set
    local total=0 anon=0 p r a
    for p in $(proc_set "$1"); do
        [ -r "/proc/$p/status" ] || continue
        read -r r a < <(awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} END {print r + 0, a + 0}' \
            "/proc/$p/status" 2>/dev/null || echo "0 0")
        total=$((total + ${r:-0})) anon=$((anon + ${a:-0}))
    done
    echo "$total $anon"
}
established() { # TCP connections established to a local listening port
    ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l
}
# One core's ticks from /proc/stat: "process busy total", where process = user + nice + system
# (what processes ran), busy = everything but idle and iowait (adds interrupts and softirqs,
# where much of loopback TCP is counted), total = all.
core_ticks() {
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i
        print $2 + $3 + $4, t - $5 - $6, t }' /proc/stat
}

# The wrk script: method and body from the environment, results as one machine-readable line.
cat >"$TMP/bench.lua" <<'EOF'
local n = tonumber(os.getenv("BENCH_BODY_BYTES") or "0")
if n > 0 then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local head, tail = '{"pad":"', '"}'
  wrk.body = head .. string.rep("x", n - #head - #tail) .. tail
end
-- txn-tls: every request a new transaction (a reference never used before, in any run), so the
-- gateway claims and settles an idempotency key for each.
if os.getenv("BENCH_TXN") == "1" then
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  local run = string.format("%x-%x", os.time(), math.random(0, 0x7fffffff))
  local count = 0
  local head = '{"amount":1,"currency":"USD","source":"@world","destination":"bln_1","reference":"'
  request = function()
    count = count + 1
    local start = head .. run .. "-" .. count .. '","pad":"'
    return wrk.format(nil, nil, nil, start .. string.rep("x", n - #start - 2) .. '"}')
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
EOF

# Runs the load for one case against a URL; prints
# "requests seconds p50_us p99_us errors non2xx" on stdout.
# Extra arguments are header lines ("Name: value").
load_run() { # $1 = case, $2 = url, $3 = seconds, $4 = out file prefix, then headers
    local c="${1%-cluster}" url="$2" secs="$3" out="$4" hargs=() h TIMEFORMAT='%3U %3S'
    shift 4
    case "$c" in
        h2-tls)
            for h in "$@"; do hargs+=(-H "$h"); done
            rm -f "$out.reqlog"
            { time timeout -k 5 $((secs + 30)) taskset -c "$LOAD_CPU" h2load -t1 -c"$H2_CONNS" \
                -m"$H2_STREAMS" -D "$secs" "${hargs[@]}" --log-file="$out.reqlog" "$url" \
                >"$out.txt" 2>&1; } 2>"$out.time" || true
            awk '{ print $1 + $2 }' "$out.time" >"$out.cpu" 2>/dev/null || true
            awk -v reqlog="$out.reqlog" '
                /^finished in/ { gsub(/s,/, "", $3); secs = $3 }
                /^requests:/ { ok = $8; failed = $10; errored = $12; tmo = $14 }
                /^status codes:/ { non = $5 + $7 + $9 }
                END {
                    cmd = "cut -f3 " reqlog " | sort -n"
                    n = 0
                    while ((cmd | getline v) > 0) lat[++n] = v
                    close(cmd)
                    p50 = n ? lat[int((n - 1) * 0.50) + 1] : 0
                    p99 = n ? lat[int((n - 1) * 0.99) + 1] : 0
                    printf "%d %s %d %d %d %d\n", ok, secs, p50, p99, failed + errored + tmo, non
                }' "$out.txt"
            ;;
        *)
            local body=0
            local txn=0
            case "$c" in post1k-tls) body=1024 ;; post64k-tls) body=65536 ;; txn-tls) body=1024 txn=1 ;; esac
            [ "$c" = conn-tls ] && set -- "$@" "Connection: close"
            for h in "$@"; do hargs+=(-H "$h"); done
            { time BENCH_BODY_BYTES=$body BENCH_TXN=$txn timeout -k 5 $((secs + 30)) taskset -c "$LOAD_CPU" \
                wrk -t1 -c"$CONNS" -d"${secs}s" --latency -s "$TMP/bench.lua" "${hargs[@]}" "$url" \
                >"$out.txt" 2>&1; } 2>"$out.time" || true
            awk '{ print $1 + $2 }' "$out.time" >"$out.cpu" 2>/dev/null || true
            awk '/^BENCH / {
                    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                    printf "%d %.3f %d %d %d %d\n", v["requests"], v["duration_us"] / 1e6,
                        v["p50_us"], v["p99_us"], v["connect"] + v["read"] + v["write"] + v["timeout"],
                        v["status"]
                }' "$out.txt"
            ;;
    esac
}

RAW="$TMP/runs.tsv"
printf 'case\ttarget\trun\treq_s\tp50_us\tp99_us\trequests\tcpu_us_per_req\tpeak_rss_kb\terrors\tnon2xx\tproxy_core_busy_pct\tload_core_busy_pct\tothers_on_proxy_core_pct\tothers_on_load_core_pct\n' >"$RAW"

# With --wait-quiet: waits (bounded) until both cores are nearly idle for a second, so a
# compiler or test run elsewhere on the machine does not land in the middle of a run.
wait_quiet() {
    [ "$WAIT_QUIET" -gt 0 ] || return 0
    local deadline=$((SECONDS + WAIT_QUIET)) a b busy
    while :; do
        a=$(awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat)
        sleep 1
        b=$(awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat)
        busy=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
            printf "%d", (y[2] > x[2] ? (y[1] - x[1]) / (y[2] - x[2]) * 100 : 0) }')
        [ "$busy" -lt 10 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "  machine still ${busy}% busy after waiting ${WAIT_QUIET} s; running anyway"
            return 0
        fi
    done
}

# One measured run of one target: CPU and peak RSS of its processes around the load. Sets
# RUN_LINE (a runs.tsv line), RUN_NOISE (the larger share of either core that processes other
# than ours used) and RUN_MSG.
measure_once() { # $1 = case, $2 = target, $3 = run, $4 = pid, $5 = url, then headers
    local c="$1" t="$2" r="$3" pid="$4" url="$5" out res t0 t1 u0 u1 gen
    local pp0 pb0 pt0 lp0 lb0 lt0 pp1 pb1 pt1 lp1 lb1 lt1 pbusy lbusy pother lother
    local requests secs p50 p99 errs non rps cpu hwm
    shift 5
    out="$TMP/out/$c.$t.$r"
    reset_hwm "$pid"
    t0=$(cpu_ticks "$pid")
    u0=$(cpu_ticks "$UPSTREAM_PID")
    read -r pp0 pb0 pt0 < <(core_ticks "$PROXY_CPU")
    read -r lp0 lb0 lt0 < <(core_ticks "$LOAD_CPU")
    res=$(load_run "$c" "$url" "$DURATION" "$out" "$@")
    t1=$(cpu_ticks "$pid")
    u1=$(cpu_ticks "$UPSTREAM_PID")
    read -r pp1 pb1 pt1 < <(core_ticks "$PROXY_CPU")
    read -r lp1 lb1 lt1 < <(core_ticks "$LOAD_CPU")
    [ -n "$res" ] || { cat "$out.txt" >&2; die "no result from the load generator ($c, $t)"; }
    read -r requests secs p50 p99 errs non <<<"$res"
    hwm=$(hwm_kb "$pid")
    # The load generator's CPU seconds (user + system), from bash's `time` in load_run.
    gen=$(cat "$out.cpu" 2>/dev/null || echo 0)
    rps=$(awk -v n="$requests" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
    cpu=$(awk -v d=$((t1 - t0)) -v n="$requests" -v hz="$CLK_TCK" \
        'BEGIN { printf "%.2f", (n > 0 ? d * 1e6 / hz / n : 0) }')
    # Noise: process time on each core that none of our processes spent (a compiler, tests), as
    # a share of the run. Proxy core: minus the proxy (the direct target's "proxy" is the
    # upstream, on the load core). Load core: minus the upstream and the load generator.
    [ "$t" = direct ] && t1=$t0
    pother=$(awk -v b=$((pp1 - pp0)) -v p=$((t1 - t0)) -v t=$((pt1 - pt0)) \
        'BEGIN { o = t > 0 ? (b - p) / t * 100 : 0; printf "%.1f", (o < 0 ? 0 : o) }')
    lother=$(awk -v b=$((lp1 - lp0)) -v u=$((u1 - u0)) -v g="$gen" -v hz="$CLK_TCK" -v t=$((lt1 - lt0)) \
        'BEGIN { o = t > 0 ? (b - u - g * hz) / t * 100 : 0; printf "%.1f", (o < 0 ? 0 : o) }')
    pbusy=$(awk -v b=$((pb1 - pb0)) -v t=$((pt1 - pt0)) 'BEGIN { printf "%.1f", (t > 0 ? b / t * 100 : 0) }')
    lbusy=$(awk -v b=$((lb1 - lb0)) -v t=$((lt1 - lt0)) 'BEGIN { printf "%.1f", (t > 0 ? b / t * 100 : 0) }')
    RUN_LINE=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$c" "$t" "$r" \
        "$rps" "$p50" "$p99" "$requests" "$cpu" "$hwm" "$errs" "$non" "$pbusy" "$lbusy" "$pother" "$lother")
    RUN_NOISE=$(awk -v a="$pother" -v b="$lother" 'BEGIN { printf "%d", (a > b ? a : b) }')
    RUN_MSG="$c $t run $r: $rps req/s, p50 ${p50} us, p99 ${p99} us, ${cpu} us CPU/req, peak RSS $((hwm / 1024)) MiB, errors $errs, non-2xx $non; core $PROXY_CPU busy ${pbusy}% (others ${pother}%), core $LOAD_CPU busy ${lbusy}% (others ${lother}%)"
    if [ "$requests" = 0 ] || [ "$non" != 0 ]; then
        log "  WARNING: $t answered $non non-2xx of $requests in $c (see $out.txt; logs in $TMP)"
    fi
}

# A measured run, repeated (--retry-noisy N times at most) while other processes used more than
# NOISE_LIMIT % of a core during it; the quietest attempt is kept, and its noise is reported.
NOISE_LIMIT=10
measure() { # same arguments as measure_once
    local attempt best_line="" best_noise=1000 best_msg=""
    for attempt in $(seq 0 "$RETRY_NOISY"); do
        wait_quiet
        measure_once "$@"
        if [ "$RUN_NOISE" -lt "$best_noise" ]; then
            best_line=$RUN_LINE best_noise=$RUN_NOISE best_msg=$RUN_MSG
        fi
        [ "$RUN_NOISE" -le "$NOISE_LIMIT" ] && break
        [ "$attempt" -lt "$RETRY_NOISY" ] && log "  noisy (others ${RUN_NOISE}% of a core), again: $RUN_MSG"
    done
    printf '%s\n' "$best_line" >>"$RAW"
    log "  $best_msg"
}

# A short unmeasured run: fills the upstream pools and proves the target answers 200.
warm_up() { # $1 = case, $2 = target, $3 = url, then headers
    local c="$1" t="$2" url="$3" res requests non
    shift 3
    res=$(load_run "$c" "$url" "$WARMUP" "$TMP/out/$c.$t.warmup" "$@")
    read -r requests _ _ _ _ non <<<"${res:-0 0 0 0 0 0}"
    if [ "${requests:-0}" -eq 0 ] || [ "${non:-1}" != 0 ]; then
        cat "$TMP/out/$c.$t.warmup.txt" >&2
        die "$t did not answer 200 in case $c ($requests requests, $non non-2xx; logs in $TMP)"
    fi
}

# Negotiated protocol, cipher and group with an OpenSSL client, and whether a second connection
# resumes the session (TLS 1.3 tickets arrive after the handshake, hence the pause).
tls_params() { # $1 = port
    local out again proto cipher group resumed=no req
    req=$'GET /ledgers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
    out=$( (sleep 0.5; printf '%s' "$req") | timeout 5 openssl s_client -connect "127.0.0.1:$1" \
        -servername localhost -ign_eof -sess_out "$TMP/tls.sess" 2>/dev/null) || true
    again=$(printf '%s' "$req" | timeout 5 openssl s_client -connect "127.0.0.1:$1" \
        -servername localhost -sess_in "$TMP/tls.sess" 2>/dev/null) || true
    rm -f "$TMP/tls.sess"
    proto=$(awk '/^New, / {print $2}' <<<"$out" | tr -d ',')
    cipher=$(awk '/^New, / {print $NF}' <<<"$out")
    group=$(awk -F': ' '/^Server Temp Key/ {print $2}' <<<"$out" | cut -d, -f1)
    grep -q '^Reused, ' <<<"$again" && resumed=yes
    echo "${proto:-?} ${cipher:-?} ${group:-?}, resumes sessions: $resumed"
}

# --- sanity: the upstream and the gateway really check the key -----------------------------------
mkdir -p "$TMP/out"
start_upstream
log "upstream nginx on 127.0.0.1:$UPSTREAM_PORT (core $LOAD_CPU), key ${#KEY} chars"
expect_401() { # $1 = what, $2 = url, then headers
    local what="$1" url="$2" res requests non
    shift 2
    res=$(load_run h1-plain "$url" 1 "$TMP/out/sanity.$what" "$@")
    read -r requests _ _ _ _ non <<<"${res:-0 0 0 0 0 0}"
    if [ "${requests:-0}" -eq 0 ] || [ "$non" != "$requests" ]; then
        die "sanity: $what answered 2xx to a request with a wrong or no key"
    fi
}
expect_401 upstream-no-key "http://127.0.0.1:$UPSTREAM_PORT/ledgers"
SANITY_PORT=$(free_port)
start_gateway sanity "$SANITY_PORT" verify plain
expect_401 gateway-verify-wrong-key "http://127.0.0.1:$SANITY_PORT/ledgers" "X-Blnk-Key: wrong-$KEY"
stop_pid "$STARTED_PID"
log "sanity: the upstream refuses a missing key, the gateway in verify mode refuses a wrong one"

# The -cluster cases: one redis-server for the run, on the load core, without persistence.
REDIS_PORT=""
ensure_redis() {
    [ -n "$REDIS_PORT" ] && return 0
    command -v redis-server >/dev/null 2>&1 || die "the -cluster cases need redis-server (apt-get install redis-server)"
    REDIS_PORT=$(free_port)
    taskset -c "$LOAD_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly no >"$TMP/redis.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$REDIS_PORT" "$!" "redis-server"
    log "redis-server on 127.0.0.1:$REDIS_PORT (core $LOAD_CPU) for the -cluster cases"
}
# --- the cases ---------------------------------------------------------------------------------
# target name -> "pid url" for the current case, and the headers it needs.
declare -A TPID TURL TPORT
declare -A TLSINFO GW_DESC
AUDIT_NOTES=""
headers_for() { # the client sends the key only to the verifying gateways and the upstream
    case "$1" in gateway-verify* | direct) echo "X-Blnk-Key: $KEY" ;; esac
}
# The gateways of a case: name:mode:JSON merged last. features-tls turns features off one by one.
gateway_variants() { # $1 = case
    case "$1" in
        features-tls)
            echo 'verify:verify:{}'
            echo 'verify-no-audit:verify:{"gateway":{"audit":{"enabled":false}}}'
            echo 'verify-no-ratelimit:verify:{"gateway":{"rate_limit":{"enabled":false}}}'
            echo 'verify-none:verify:{"gateway":{"audit":{"enabled":false},"rate_limit":{"enabled":false}}}'
            ;;
        *) echo 'inject:inject:{}'; echo 'verify:verify:{}' ;;
    esac
    # --compare-bin: the other build, verify mode, every feature on.
    [ -z "$COMPARE_BIN" ] || echo 'verify-b:verify:{}'
}
# The gateway's own account of how it started (first TLS case), for the report.
note_gateway() { # $1 = inject|verify, $2 = tls|plain
    local mode="$1"
    if [ "$2" = tls ] && [ -z "${GW_DESC[$mode]:-}" ]; then
        GW_DESC[$mode]=$(grep -o 'mode=.*' "$TMP/gateway-$mode/stderr.log" | head -1 |
            sed -e 's/\x1b\[[0-9;]*m//g' -e 's/ key_fingerprint=[0-9a-f]*//')
        log "gateway started as: ${GW_DESC[$mode]}; features: $FEATURES"
    fi
}
# Negotiated TLS parameters of nginx and the gateway (first TLS case), for the report.
note_tls() { # $1 = nginx's port, $2 = the inject gateway's port
    if [ -z "${TLSINFO[nginx]:-}" ]; then
        TLSINFO[nginx]=$(tls_params "$1")
        TLSINFO[gateway-inject]=$(tls_params "$2")
    fi
}
run_case() { # $1 = case
    local c="$1" scheme=https tls=tls h2=h1 port targets t r i path=/ledgers gw_json="{}"
    case "${c%-cluster}" in h1-plain) scheme=http; tls=plain ;; h2-tls) h2=h2 ;; txn-tls) path=/transactions ;; esac
    local variants name mode variant first=""
    mapfile -t variants < <(gateway_variants "$c")
    if [ "$c" != "${c%-cluster}" ]; then
        ensure_redis
        gw_json="{\"cluster\": {\"enabled\": true, \"redis\": \"redis://127.0.0.1:$REDIS_PORT/0\"}}"
    fi
    log "case $c"
    TPID=(); TURL=()
    targets=()
    if [ "$c" = h1-plain ]; then
        targets+=(direct)
        TPID[direct]=$UPSTREAM_PID
        TURL[direct]="http://127.0.0.1:$UPSTREAM_PORT/ledgers"
    fi
    port=$(free_port)
    start_nginx_proxy "$port" "$tls" "$h2"
    targets+=(nginx)
    TPID[nginx]=$STARTED_PID
    TURL[nginx]="$scheme://127.0.0.1:$port$path"
    for v in "${variants[@]}"; do
        name=${v%%:*} v=${v#*:} mode=${v%%:*} variant=${v#*:}
        port=$(free_port)
        START_BIN=""
        [ "$name" = verify-b ] && START_BIN="$COMPARE_BIN"
        start_gateway "gateway-$name" "$port" "$mode" "$tls" "$gw_json" "$variant"
        [ "$name" = "$mode" ] && note_gateway "$mode" "$tls"
        targets+=("gateway-$name")
        first=${first:-gateway-$name}
        TPID[gateway-$name]=$STARTED_PID
        TURL[gateway-$name]="$scheme://127.0.0.1:$port$path"
    done
    if [ "$tls" = tls ] && [ -n "${TURL[gateway-inject]:-}" ]; then
        local np gp
        np=${TURL[nginx]#https://127.0.0.1:} gp=${TURL[gateway-inject]#https://127.0.0.1:}
        note_tls "${np%%/*}" "${gp%%/*}"
    fi
    for t in "${targets[@]}"; do
        local hdr
        hdr=$(headers_for "$t")
        if [ -n "$hdr" ]; then warm_up "$c" "$t" "${TURL[$t]}" "$hdr"; else warm_up "$c" "$t" "${TURL[$t]}"; fi
    done
    GATEWAY_THREADS=$(threads_of "${TPID[$first]}")
    local n=${#targets[@]}
    for r in $(seq "$RUNS"); do
        # Rotate the order each run, so no target always runs first or right after another.
        for i in $(seq 0 $((n - 1))); do
            t=${targets[$(((i + r - 1) % n))]}
            local hdr
            hdr=$(headers_for "$t")
            if [ -n "$hdr" ]; then
                measure "$c" "$t" "$r" "${TPID[$t]}" "${TURL[$t]}" "$hdr"
            else
                measure "$c" "$t" "$r" "${TPID[$t]}" "${TURL[$t]}"
            fi
        done
    done
    for t in "${targets[@]}"; do
        [ "$t" = direct ] || stop_pid "${TPID[$t]}"
    done
    # Proof that the audit log was on: its records against the requests the gateway answered.
    for v in "${variants[@]}"; do
        name=${v%%:*}
        local f="$TMP/gateway-$name/audit.log" recs answered
        [ -f "$f" ] || continue
        recs=$(wc -l <"$f")
        answered=$(awk -F'\t' -v c="$c" -v t="gateway-$name" '$1 == c && $2 == t { n += $7 } END { print n + 0 }' "$RAW")
        AUDIT_NOTES+=" $c/$name $recs/$answered;"
        rm -f "$f"
    done
}

# --- idle connections: memory per connection ---------------------------------------------------
IDLE_RAW="$TMP/idle.tsv"
printf 'case\ttarget\tconns\trss_before_kb\trss_after_kb\tanon_before_kb\tanon_after_kb\tkb_per_conn\topened\tok\tfailed\testablished\tclosed_by_server\topen_s\n' >"$IDLE_RAW"

idle_client_args() { # $1 = port, $2 = counts (space-separated), $3 = tls|plain, then headers; sets IDLE_ARGS
    local h counts="$2"
    IDLE_ARGS=(--port "$1" --count "${counts// /,}" --concurrency "$IDLE_CONCURRENCY")
    if [ "$3" = tls ]; then IDLE_ARGS+=(--cafile "$TMP/cert.pem"); else IDLE_ARGS+=(--plain); fi
    shift 3
    for h in "$@"; do IDLE_ARGS+=(--header "$h"); done
}

# Starts benches/idle_conns.py (on the load core, bounded by `timeout`) for all the counts: it
# opens connections until the first count is held, uses each for one request, prints an IDLE
# line, and opens more up to the next count when a line arrives on its stdin, a FIFO this shell
# keeps open (idle_client_next); closing the FIFO (idle_client_stop) makes it close them all.
# Sets IDLE_CPID and IDLE_FD.
idle_client_start() { # $1 = out prefix, then idle_client_args' arguments
    local out="$1" stages
    shift
    idle_client_args "$@"
    stages=$(wc -w <<<"$2")
    rm -f "$out.fifo"
    mkfifo "$out.fifo"
    timeout -k 5 $((stages * (IDLE_OPEN_TIMEOUT + 30) + 60)) taskset -c "$LOAD_CPU" \
        python3 "$ROOT/benches/idle_conns.py" "${IDLE_ARGS[@]}" --open-timeout "$IDLE_OPEN_TIMEOUT" \
        --hold-max $((IDLE_OPEN_TIMEOUT + 60)) <"$out.fifo" >"$out.txt" 2>"$out.err" &
    IDLE_CPID=$!
    PIDS+=("$IDLE_CPID")
    exec {IDLE_FD}>"$out.fifo"
}
idle_client_wait() { # $1 = out prefix, $2 = stage; true once the client has printed its IDLE line
    for _ in $(seq $(((IDLE_OPEN_TIMEOUT + 30) * 5))); do
        [ "$(grep -c '^IDLE ' "$1.txt" 2>/dev/null)" -ge "$2" ] && return 0
        kill -0 "$IDLE_CPID" 2>/dev/null || break
        sleep 0.2
    done
    # One last look: it may have printed its line and then exited.
    [ "$(grep -c '^IDLE ' "$1.txt" 2>/dev/null)" -ge "$2" ]
}
idle_client_next() { # asks the client for its next stage (a subshell: a dead reader's SIGPIPE stays there)
    (printf 'next\n' >&"$IDLE_FD") 2>/dev/null || true
}
idle_client_stop() { # closes the client's stdin: it closes its connections and exits
    exec {IDLE_FD}>&-
    for _ in $(seq 100); do kill -0 "$IDLE_CPID" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$IDLE_CPID"
}

# A few connections, each used for one request and closed: proves the target answers 200 over
# kept-alive connections to this client, and does the one-time work (upstream pool, audit file)
# before RSS is first read.
idle_warm_up() { # $1 = case, $2 = target, $3 = port, $4 = tls|plain, then headers
    local c="$1" t="$2" port="$3" tls="$4" out="$TMP/out/$1.$2.warmup"
    shift 4
    idle_client_args "$port" 8 "$tls" "$@"
    timeout -k 5 30 taskset -c "$LOAD_CPU" python3 "$ROOT/benches/idle_conns.py" "${IDLE_ARGS[@]}" \
        --open-timeout 20 --hold-max 1 </dev/null >"$out.txt" 2>"$out.err" || true
    grep -q '^IDLE opened=8 ok=8 ' "$out.txt" || {
        cat "$out.txt" "$out.err" >&2
        die "$t did not answer 200 on kept-alive connections in case $c (logs in $TMP)"
    }
}

# The idle runs of one target: RSS before; connections opened until the first count is held,
# each used for one request and left idle; RSS with them held (after a second to settle), less
# RSS before, per connection; then more connections, up to the next count, and the same. When
# RSS is read, checks that the count's requests were answered 200 and that as many connections
# are established at the proxy's port.
idle_measure() { # $1 = case, $2 = target, $3 = pid, $4 = port, $5 = tls|plain, then headers
    local c="$1" t="$2" pid="$3" port="$4" tls="$5" out b ba a aa est opened ok failed closed secs per aper
    local k=0 n rows=""
    shift 5
    out="$TMP/out/$c.$t"
    sleep 1
    read -r b ba < <(rss_kb "$pid")
    idle_client_start "$out" "$port" "$IDLE_CONNS" "$tls" "$@"
    for n in $IDLE_CONNS; do
        k=$((k + 1))
        [ "$k" = 1 ] || idle_client_next
        if ! idle_client_wait "$out" "$k"; then
            idle_client_stop
            cat "$out.txt" "$out.err" >&2
            die "$t: the idle client did not report $n connections held ($c; logs in $TMP)"
        fi
        sleep 1
        read -r a aa < <(rss_kb "$pid")
        est=$(established "$port")
        read -r opened ok failed < <(grep '^IDLE ' "$out.txt" | sed -n "${k}p" |
            sed -n 's/^IDLE opened=\([0-9]*\) ok=\([0-9]*\) failed=\([0-9]*\).*/\1 \2 \3/p')
        secs=$(grep '^idle_conns: [0-9]* connections held' "$out.err" | sed -n "${k}p" |
            sed -n 's/.* this stage in \([0-9.]*\) s.*/\1/p')
        per=$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }')
        aper=$(awk -v a="$aa" -v b="$ba" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }')
        rows+=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t@CLOSED@\t%s' "$c" "$t" "$n" "$b" "$a" \
            "$ba" "$aa" "$per" "${opened:-0}" "${ok:-0}" "${failed:-$n}" "$est" "${secs:-?}")$'\n'
        log "  $c $t, $n connections: RSS $((b / 1024)) -> $((a / 1024)) MiB, $per KB per connection (anonymous $aper); 200: ${ok:-0}/$n, established at measurement $est/$n; opened in ${secs:-?} s"
        if [ "${ok:-0}" != "$n" ] || [ "$est" != "$n" ]; then
            log "  WARNING: $t did not hold $n used connections open in $c (see $out.txt, $out.err; logs in $TMP)"
        fi
    done
    idle_client_stop
    closed=$(sed -n 's/^CLOSED .*closed_by_server=\([0-9]*\).*/\1/p' "$out.txt")
    [ "${closed:-?}" = 0 ] || log "  WARNING: $t closed ${closed:-?} of the idle connections while they were held ($c)"
    printf '%s' "${rows//@CLOSED@/${closed:-?}}" >>"$IDLE_RAW"
}

# One set of proxies for the case, as in the TLS cases plus room for the connections: nginx
# worker_connections, and the gateway's gateway.limits.max_connections, the largest count +
# 1024, so the cap is not what is measured; and an idle timeout of IDLE_HOLD_TIMEOUT for both
# (nginx's keepalive_timeout is 75 s by default, the gateway's idle_timeout 60 s), so that no
# connection is closed during a run. Each target is measured with the proxy running the whole
# time and one client growing its connections through the counts.
run_idle_case() { # $1 = case: idle-tls | idle-plain
    local c="$1" tls=tls t mode port gw_json hdr f
    [ "$c" = idle-plain ] && tls=plain
    log "case $c: ${IDLE_CONNS// /, } idle connections per target"
    TPID=(); TPORT=()
    port=$(free_port)
    start_nginx_proxy "$port" "$tls" h1 $((IDLE_MAX + 1024)) "${IDLE_HOLD_TIMEOUT}s"
    TPID[nginx]=$STARTED_PID TPORT[nginx]=$port
    gw_json=$(jq -c -n --argjson m $((IDLE_MAX + 1024)) --arg idle "${IDLE_HOLD_TIMEOUT}s" \
        '{gateway: {limits: {max_connections: $m, idle_timeout: $idle}}}')
    for mode in inject verify; do
        port=$(free_port)
        start_gateway "gateway-$mode" "$port" "$mode" "$tls" "$gw_json"
        note_gateway "$mode" "$tls"
        TPID[gateway-$mode]=$STARTED_PID TPORT[gateway-$mode]=$port
    done
    [ "$tls" = tls ] && note_tls "${TPORT[nginx]}" "${TPORT[gateway-inject]}"
    GATEWAY_THREADS=$(threads_of "${TPID[$first]}")
    for t in nginx gateway-inject gateway-verify; do
        hdr=$(headers_for "$t")
        if [ -n "$hdr" ]; then
            idle_warm_up "$c" "$t" "${TPORT[$t]}" "$tls" "$hdr"
            idle_measure "$c" "$t" "${TPID[$t]}" "${TPORT[$t]}" "$tls" "$hdr"
        else
            idle_warm_up "$c" "$t" "${TPORT[$t]}" "$tls"
            idle_measure "$c" "$t" "${TPID[$t]}" "${TPORT[$t]}" "$tls"
        fi
    done
    for t in nginx gateway-inject gateway-verify; do stop_pid "${TPID[$t]}"; done
    for mode in inject verify; do
        f="$TMP/gateway-$mode/audit.log"
        [ -f "$f" ] || continue
        AUDIT_NOTES+=" $c/$mode $(wc -l <"$f")/$((IDLE_MAX + 8));"
        rm -f "$f"
    done
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for c in $CASES; do
    case "$c" in idle-*) run_idle_case "$c" ;; *) run_case "$c" ;; esac
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
fmt_table() {
    awk -F'\t' -v cases="$THRU_CASES" '
    function median(list,   a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        if (n == 0) return 0
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function ms(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%d us", us) }
    function ratio(x, y) { return (y > 0 && x > 0) ? sprintf("%.2fx", x / y) : "-" }
    function rate(x) { return x >= 10000 ? sprintf("%.1fk", x / 1000) : sprintf("%.0f", x) }
    NR > 1 {
        k = $1 SUBSEP $2
        if (!(k in seen)) { seen[k] = 1; order[$1] = order[$1] " " $2 }
        rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6
        cpu[k] = cpu[k] " " $8; rss[k] = rss[k] " " $9
        pb[k] = pb[k] " " $12; lb[k] = lb[k] " " $13; oth[k] = oth[k] " " $14; loth[k] = loth[k] " " $15
        err[k] += $10; non[k] += $11; runs[k]++
    }
    END {
        print "| case | target | req/s | vs nginx | p50 | p99 | p99 vs nginx | CPU/req | CPU vs nginx | peak RSS | errors / non-2xx | busy (others): proxy core / load core |"
        print "|---|---|---|---|---|---|---|---|---|---|---|---|"
        n = split(cases, cs, " ")
        for (ci = 1; ci <= n; ci++) {
            c = cs[ci]
            nk = c SUBSEP "nginx"
            nr = median(rps[nk]); n99 = median(p99[nk]); ncpu = median(cpu[nk])
            m = split(order[c], ts, " ")
            for (ti = 1; ti <= m; ti++) {
                t = ts[ti]; k = c SUBSEP t
                r = median(rps[k]); q = median(p99[k]); u = median(cpu[k])
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f MiB | %d / %d | %.0f%% (%.0f%%) / %.0f%% (%.0f%%) |\n",
                    c, t, rate(r), (t == "nginx" ? "1.00x" : ratio(r, nr)), ms(median(p50[k])), ms(q),
                    (t == "nginx" ? "1.00x" : ratio(q, n99)),
                    (t == "direct" ? "-" : sprintf("%.1f us", u)),
                    (t == "direct" || t == "nginx" ? (t == "nginx" ? "1.00x" : "-") : ratio(u, ncpu)),
                    median(rss[k]) / 1024, err[k], non[k], median(pb[k]), median(oth[k]), median(lb[k]), median(loth[k])
            }
        }
    }' "$RAW"
}

# Idle cases: one row per target; KB per idle connection at each count and RSS at the largest,
# with ratios to nginx; "RSS, no connections" is the one read before the connections.
fmt_idle_table() {
    awk -F'\t' -v cases="$IDLE_CASES" -v counts="$IDLE_CONNS" -v maxn="$IDLE_MAX" '
    function label(n) { return n % 1000 == 0 ? (n / 1000) "k" : n }
    function ratio(x, y) { return (y > 0 && x > 0) ? sprintf("%.2fx", x / y) : "-" }
    function mib(kb) { return sprintf("%.1f MiB", kb / 1024) }
    NR > 1 {
        k = $1 SUBSEP $2
        if (!(k in seen)) { seen[k] = 1; order[$1] = order[$1] " " $2 }
        k = k SUBSEP $3
        before[k] = $4; after[k] = $5; per[k] = $8; ok[k] = $10; est[k] = $12; closed[k] = $13
    }
    END {
        nc = split(counts, ns, " ")
        head = "| case | target | RSS, no connections |"; rule = "|---|---|---|"
        for (i = 1; i <= nc; i++) {
            head = head " KB per idle conn, " label(ns[i]) " | vs nginx |"; rule = rule "---|---|"
        }
        print head " RSS with " label(maxn) " idle | vs nginx | 200 / established when measured |"
        print rule "---|---|---|"
        n = split(cases, cs, " ")
        for (ci = 1; ci <= n; ci++) {
            c = cs[ci]
            m = split(order[c], ts, " ")
            for (ti = 1; ti <= m; ti++) {
                t = ts[ti]; k = c SUBSEP t; nk = c SUBSEP "nginx"
                line = sprintf("| %s | %s | %s |", c, t, mib(before[k SUBSEP maxn]))
                checks = ""
                for (i = 1; i <= nc; i++) {
                    x = k SUBSEP ns[i]
                    line = line sprintf(" %.1f | %s |", per[x],
                        (t == "nginx" ? "1.00x" : ratio(per[x], per[nk SUBSEP ns[i]])))
                    checks = checks (i > 1 ? "; " : "") ok[x] " / " est[x] \
                        (ok[x] != ns[i] || est[x] != ns[i] ? " of " ns[i] " (SHORT)" : "") \
                        (closed[x] != 0 ? " (" closed[x] " closed by the server)" : "")
                }
                x = k SUBSEP maxn
                line = line sprintf(" %s | %s | %s |", mib(after[x]),
                    (t == "nginx" ? "1.00x" : ratio(after[x], after[nk SUBSEP maxn])), checks)
                print line
            }
        }
    }' "$IDLE_RAW"
}

GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || GIT_REV+="+dirty"
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)

REPORT="$TMP/report.md"
{
    echo "## blnk-gateway vs nginx, $START_TIME"
    echo
    echo "- machine: $NCPU cores ($CPU_MODEL), ${MEM_GIB} GiB, Linux $(uname -r); load average $START_LOAD at start, $END_LOAD at end"
    echo "- gateway: $GIT_REV, release build, ${GATEWAY_THREADS:-?} threads when pinned; as started (TLS cases): \`${GW_DESC[inject]:-?}\` and \`${GW_DESC[verify]:-?}\`"
    [ -z "$COMPARE_BIN" ] || echo "- gateway-verify-b: \`$COMPARE_BIN\` (--compare-bin), verify mode, the same configuration"
    echo "- gateway features on: key check (verify mode: client sends X-Blnk-Key, checked in constant time) or key injection (inject mode, allow_networks 127.0.0.1/32); X-Request-Id, X-Forwarded-*, security headers; merged config: \`$FEATURES\` (@DIR@ = the gateway's own temp dir)"
    echo "- audit log written (records / requests counted in the table; warm-ups and repeated noisy runs add records):${AUDIT_NOTES:- none}"
    echo "- $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | awk 'NR==1 {print $1, $2}'), $(h2load --version 2>&1 | head -1), $(python3 --version 2>&1)"
    echo "- TLS (OpenSSL client): nginx ${TLSINFO[nginx]:-n/a}; gateway ${TLSINFO[gateway-inject]:-n/a}; ECDSA P-256 certificate"
    echo "- nginx proxy: the baseline configuration (docs/performance.md) plus ssl_protocols TLSv1.2 TLSv1.3 (as Debian's stock nginx.conf; the built-in default of 1.22 stops at 1.2), in the h2 case http2 on the listener and keepalive 256 in the upstream pool (256 requests in flight; with 64 nginx churns upstream connections and loses about a third), client_body_buffer_size 128k (64 KiB bodies stay in memory)"
    echo "- pinning: proxy under test on core $PROXY_CPU; wrk/h2load/idle_conns.py and the upstream nginx on core $LOAD_CPU"
    if [ -n "$THRU_CASES" ]; then
        echo "- ${RUNS} run(s) x ${DURATION} s per target and case, targets rotating, medians; ratios against nginx from this run"
        echo "- load: HTTP/1.1 wrk -t1 -c$CONNS; HTTP/2 h2load -t1 -c$H2_CONNS -m$H2_STREAMS; conn-tls: wrk -c$CONNS with 'Connection: close', so every request is a new TCP + TLS connection (the OpenSSL client in wrk offers to resume its previous session); post1k/post64k: POST /ledgers with a 1 KiB / 64 KiB JSON body over HTTP/1.1 keep-alive TLS; txn-tls: POST /transactions with a 1 KiB body and a new reference each time, so the gateway claims and settles an idempotency key (fsync'd, on the benchmark's disk) per request"
        echo "- targets: direct = wrk straight to the upstream (plain only); nginx = nginx reverse proxy injecting the key; gateway-inject = the same job; gateway-verify = client sends the key, the gateway checks it"
        echo "- CPU/req: utime+stime of the proxy (nginx: master + worker) over the run / requests completed; peak RSS: VmHWM (reset before each run; nginx: master + worker); p50/p99 from wrk (time from request write to response) or h2load's per-request log; busy: share of each core not idle during the run (interrupts and softirqs included, which is where much of the loopback TCP work is counted), in brackets the share of that core that processes other than the proxy, the upstream and the load generator used (noise, e.g. a compiler elsewhere on the machine); a load core near 100% with little noise means the load generator, not the proxy, is the limit"
    fi
    if [ -n "$IDLE_CASES" ]; then
        echo "- idle cases (${IDLE_CASES// /, }), one run per target: benches/idle_conns.py (asyncio + ssl, on core $LOAD_CPU) opens connections, $IDLE_CONCURRENCY at a time, sends one HTTP/1.1 keep-alive GET /ledgers on each (with the key header for gateway-verify), reads the response and holds the connection idle, until N are held, for N = ${IDLE_CONNS// /, } in turn (--idle-conns; the connections of a smaller N stay open); RSS = VmRSS summed over the process set (nginx: master + worker), read before (after 8 warm-up connections, opened and closed) and 1 s after the N-th connection is held; KB per idle conn = (RSS with N held - RSS before) / N, in KiB; '200 / established' = requests answered 200 / connections in ESTABLISHED at the proxy's port (ss) when RSS was read, for each N"
        echo "- idle cases, proxies: nginx worker_connections $((IDLE_MAX + 1024)) and keepalive_timeout ${IDLE_HOLD_TIMEOUT}s; gateway gateway.limits.max_connections $((IDLE_MAX + 1024)) (the largest N + 1024, so the cap is not what is measured) and idle_timeout ${IDLE_HOLD_TIMEOUT}s (so that neither closes a connection while measured); ${NOFILE_NOTE}"
    fi
    echo
    if [ -n "$THRU_CASES" ]; then
        fmt_table
        awk -F'\t' -v lim="$NOISE_LIMIT" 'NR > 1 { n++; o = $14 > $15 ? $14 : $15; if (o > lim) noisy++; if (o > max) max = o }
            END { if (noisy) printf "\nNOISY: in %d of %d runs other processes used more than %d%% of the proxy or the load core (up to %.0f%%); ratios and p99 from those runs are unreliable: run again on a quiet machine (--wait-quiet, --retry-noisy).\n", noisy, n, lim, max }' "$RAW"
    fi
    if [ -n "$IDLE_CASES" ]; then
        [ -n "$THRU_CASES" ] && echo
        fmt_idle_table
    fi
} >"$REPORT"

RESULTS_DIR="$TARGET_DIR/bench"
mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
cp "$REPORT" "$RESULTS_DIR/load-$STAMP.md"
cp "$RAW" "$RESULTS_DIR/load-$STAMP.runs.tsv"
[ -z "$IDLE_CASES" ] || cp "$IDLE_RAW" "$RESULTS_DIR/load-$STAMP.idle.tsv"
echo
cat "$REPORT"
echo
log "results: $RESULTS_DIR/load-$STAMP.md (every run: load-$STAMP.runs.tsv${IDLE_CASES:+, load-$STAMP.idle.tsv})"
