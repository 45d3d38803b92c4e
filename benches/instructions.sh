#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the gateway with each feature on and off, and
# nginx doing the same job (TLS in front, keep-alive to the same upstream), over the same
# requests. Counts do not move with a busy machine, so this attributes cost where a timed load
# run on a shared machine cannot; it does not see the kernel, wake-ups or caches (load.sh does).
#
#   benches/instructions.sh               # 3000 requests per configuration, about 3 minutes
#   benches/instructions.sh --requests 1000
#   benches/instructions.sh --allocs      # heap allocations per request instead (valgrind's DHAT)
#   benches/instructions.sh --keep        # keep the callgrind files (callgrind_annotate them)
#
# Needs valgrind, nginx, h2load (nghttp2-client), openssl, jq and a release build
# (cargo build --release). Everything listens on 127.0.0.1 only.
#
# Caveat: valgrind hides the CPU's SHA extensions, so SHA-256 (the audit chain, the presented
# key's digest) runs its portable code here and counts several times what it costs on hardware;
# the report lists that share separately.
set -euo pipefail
cd "$(dirname "$0")/.."

N=3000
ALLOCS=0
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --requests) N="$2"; shift ;;
        --allocs) ALLOCS=1 ;;
        --keep) KEEP=1 ;;
        *) echo "usage: $0 [--requests N] [--allocs] [--keep]" >&2; exit 2 ;;
    esac
    shift
done
BIN="${CARGO_TARGET_DIR:-target}/release/blnk-gateway"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
for cmd in valgrind callgrind_annotate callgrind_control nginx h2load openssl jq; do
    command -v "$cmd" >/dev/null || { echo "missing $cmd" >&2; exit 1; }
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/blnk-instr.XXXXXX")"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$KEEP" = 1 ]; then echo "kept: $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

UP=$(free_port)
KEY=$(openssl rand -hex 32)
printf '%s' "$KEY" >"$TMP/key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/tls.key" \
    -out "$TMP/tls.pem" -days 2 -subj /CN=localhost 2>/dev/null
cat >"$TMP/upstream.conf" <<EOF
worker_processes 1; daemon off; master_process off; pid $TMP/up.pid; error_log $TMP/up.err;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$UP; keepalive_requests 1000000;
    location / { default_type application/json; return 200 '{"status":"ok"}'; } } }
EOF
nginx -c "$TMP/upstream.conf" & PIDS+=($!)
wait_port "$UP"

# Heap allocations per request: DHAT counts a whole process, so each configuration runs twice,
# with N/3 and N requests after the same warm-up, and the difference is divided by the extra
# requests (start-up and shut-down cancel out). Prints "blocks bytes" per 1000 requests.
dhat_run() { # $1 = name, $2 = port, $3 = key header yes|no, $4 = requests, then the command
    local name="$1" port="$2" key="$3" n="$4" pid hdr=()
    shift 4
    [ "$key" = yes ] && hdr=(-H "X-Blnk-Key: $KEY")
    # Both runs start from nothing: a log or store left by the first would change the second's
    # start-up (resuming a chain, opening a database) and not cancel out.
    rm -f "$TMP/audit.log" "$TMP/idem.redb"
    valgrind --tool=dhat --dhat-out-file=/dev/null "$@" >"$TMP/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port"
    h2load --h1 -n 200 -c 8 "${hdr[@]}" "https://127.0.0.1:$port/ledgers" >/dev/null 2>&1
    h2load --h1 -n "$n" -c 8 "${hdr[@]}" "https://127.0.0.1:$port/ledgers" >"$TMP/$name.h2load" 2>&1
    sleep 1.5
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    grep -q "$n 2xx" "$TMP/$name.h2load" || { echo "$name: not every request succeeded" >&2; cat "$TMP/$name.h2load" >&2; exit 1; }
    # "Total:     1,234 bytes in 56 blocks"
    awk '/Total:/ { b = $3; k = $6; gsub(",", "", b); gsub(",", "", k); print k, b; exit }' "$TMP/$name.log"
}
measure_allocs() { # $1 = name, $2 = port-making function's port, $3 = key yes|no, then the command
    local name="$1" port="$2" key="$3" small=$((N / 3)) a b
    shift 3
    read -r a1 a2 <<<"$(dhat_run "$name-small" "$port" "$key" "$small" "$@")"
    read -r b1 b2 <<<"$(dhat_run "$name-large" "$port" "$key" "$N" "$@")"
    echo "$(((b1 - a1) * 1000 / (N - small))) $(((b2 - a2) * 1000 / (N - small)))"
}

# Runs $@ under callgrind, instrumenting only the N measured requests (after a warm-up that
# opens the connections); prints "instructions sha256-instructions".
measure() { # $1 = name, $2 = port, $3 = send the key (yes|no), then the command
    local name="$1" port="$2" key="$3" pid hdr=()
    shift 3
    [ "$key" = yes ] && hdr=(-H "X-Blnk-Key: $KEY")
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/$name.cg" "$@" \
        >"$TMP/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port"
    h2load --h1 -n 200 -c 8 "${hdr[@]}" "https://127.0.0.1:$port/ledgers" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    h2load --h1 -n "$N" -c 8 "${hdr[@]}" "https://127.0.0.1:$port/ledgers" >"$TMP/$name.h2load" 2>&1
    sleep 1.5 # the audit writer's interval flush belongs to these requests
    callgrind_control -i off "$pid" >/dev/null 2>&1
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    grep -q "$N 2xx" "$TMP/$name.h2load" || { echo "$name: not every request succeeded" >&2; cat "$TMP/$name.h2load" >&2; exit 1; }
    callgrind_annotate "$TMP/$name.cg" 2>/dev/null | awk '
        /PROGRAM TOTALS/ { t = $1; gsub(",", "", t) }
        /sha2::sha256::compress256|sha256_block_data_order/ { s = $1; gsub(",", "", s); sha += s }
        END { printf "%d %d\n", t, sha }'
}

gateway() { # $1 = name, $2 = JSON merged over the base config
    local port
    port=$(free_port)
    jq -n --arg listen "127.0.0.1:$port" --arg up "http://127.0.0.1:$UP" --arg dir "$TMP" --argjson o "$2" '
        {server: {secure: true},
         gateway: {listen: $listen, admin_listen: "off", upstream: $up, mode: "verify",
           secret_key_file: ($dir + "/key"), allow_networks: ["127.0.0.1/32"],
           tls: {cert: ($dir + "/tls.pem"), key: ($dir + "/tls.key")},
           idempotency: {path: ($dir + "/idem.redb")},
           rate_limit: {per_client: {per_second: 1000000, burst: 100000},
                        global: {per_second: 1000000, burst: 100000}},
           audit: {path: ($dir + "/audit.log")}}} * $o' >"$TMP/$1.json"
    "$MEASURE" "$1" "$port" yes "$BIN" serve --config "$TMP/$1.json"
}

nginx_proxy() {
    local port
    port=$(free_port)
    cat >"$TMP/proxy.conf" <<EOF
worker_processes 1; daemon off; master_process off; pid $TMP/proxy.pid; error_log $TMP/proxy.err;
events { worker_connections 1024; }
http { access_log off;
  upstream blnk { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$port ssl; ssl_certificate $TMP/tls.pem; ssl_certificate_key $TMP/tls.key;
    ssl_protocols TLSv1.3; keepalive_requests 1000000;
    location / { proxy_pass http://blnk; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Blnk-Key "$KEY"; } } }
EOF
    "$MEASURE" nginx "$port" no nginx -c "$TMP/proxy.conf"
}

# Every configuration measured, printed as a table row by $1 (row or arow below).
configurations() { # $1 = the row function
    "$1" "nginx (TLS, proxy, key header set)" "$(nginx_proxy)"
    "$1" "gateway, every feature on" "$(gateway all '{}')"
    "$1" "gateway, audit log off" "$(gateway noaudit '{"gateway":{"audit":{"enabled":false}}}')"
    "$1" "gateway, rate limiting off" "$(gateway norl '{"gateway":{"rate_limit":{"enabled":false}}}')"
    "$1" "gateway, both off" "$(gateway none '{"gateway":{"audit":{"enabled":false},"rate_limit":{"enabled":false}}}')"
}

if [ "$ALLOCS" = 1 ]; then
    MEASURE=measure_allocs
    arow() { # $1 = label, $2 = "blocks bytes" per 1000 requests
        local k b
        read -r k b <<<"$2"
        printf '| %s | %d.%02d | %d |\n' "$1" $((k / 1000)) $((k % 1000 / 10)) $((b / 1000))
    }
    echo "Heap allocations per request, valgrind DHAT, $N HTTP/1.1 keep-alive requests over TLS (less"
    echo "the same run with $((N / 3))), 8 connections, GET /ledgers, verify mode;"
    echo "$(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)."
    echo
    echo "| configuration | allocations / request | bytes allocated / request |"
    echo "|---|---|---|"
    configurations arow
    exit 0
fi
MEASURE=measure

row() { # $1 = label, $2 = "instructions sha"
    local t s
    read -r t s <<<"$2"
    printf '| %s | %d | %d | %d |\n' "$1" $((t / N)) $((s / N)) $(((t - s) / N))
}

echo "Instructions per request, callgrind, $N HTTP/1.1 keep-alive requests over TLS, 8 connections,"
echo "GET /ledgers, verify mode; $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)."
echo
echo "| configuration | instructions / request | of which SHA-256 (portable code under valgrind) | without SHA-256 |"
echo "|---|---|---|---|"
configurations row
