#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the gateway with each feature on and off, and
# nginx doing the same job (TLS in front, keep-alive to the same upstream), over the same
# requests. Counts do not move with a busy machine, so this attributes cost where a timed load
# run on a shared machine cannot; it does not see the kernel, wake-ups or caches (load.sh does).
#
#   benches/instructions.sh               # 3000 requests per configuration, about 3 minutes
#   benches/instructions.sh --requests 1000
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
[ "${1:-}" = --requests ] && N="$2"
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
    rm -rf "$TMP"
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
    measure "$1" "$port" yes "$BIN" serve --config "$TMP/$1.json"
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
    measure nginx "$port" no nginx -c "$TMP/proxy.conf"
}

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
row "nginx (TLS, proxy, key header set)" "$(nginx_proxy)"
row "gateway, every feature on" "$(gateway all '{}')"
row "gateway, audit log off" "$(gateway noaudit '{"gateway":{"audit":{"enabled":false}}}')"
row "gateway, rate limiting off" "$(gateway norl '{"gateway":{"rate_limit":{"enabled":false}}}')"
row "gateway, both off" "$(gateway none '{"gateway":{"audit":{"enabled":false},"rate_limit":{"enabled":false}}}')"
