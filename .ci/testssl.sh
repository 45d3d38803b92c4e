#!/usr/bin/env bash
# Scans a running gateway with testssl.sh (Debian package `testssl.sh`) and fails on a bad
# verdict. Offline: everything stays on 127.0.0.1, no DNS (-n none, --ip), no revocation or
# other "phone out" checks (testssl only does those with --phone-out), bounded by timeouts.
#
#   .ci/testssl.sh                # the README's release build (a no-op once made), RSA and ECDSA scans
#   KEY_TYPES=ec .ci/testssl.sh   # one key type
#   BLNK_GATEWAY_BIN=path/to/blnk-gateway FAKE_BLNK_BIN=path/to/fake-blnk .ci/testssl.sh
#
# Verdict: any finding of severity MEDIUM, HIGH or CRITICAL, or a scan error (FATAL, or a
# protocol/cipher check that could not run), fails. LOW and INFO findings are printed.
# Exit: 0 clean, 1 bad verdict, 2 could not scan.
set -euo pipefail
cd "$(dirname "$0")/.."

KEY_TYPES=${KEY_TYPES:-"rsa ec"}
SCAN_TIMEOUT=${SCAN_TIMEOUT:-600}
target_dir=${CARGO_TARGET_DIR:-target}

if ! command -v testssl >/dev/null && ! command -v testssl.sh >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing testssl.sh (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null
  fi
fi
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$TESTSSL" ]; then
  echo "testssl.sh is not installed and could not be installed (apt-get install testssl.sh)" >&2
  exit 2
fi

# The scan judges the binary that ships: the release build, the same command as the README's
# Quick start and the package, so CI builds it once for all three.
if [ -z "${BLNK_GATEWAY_BIN:-}" ] || [ -z "${FAKE_BLNK_BIN:-}" ]; then
  cargo build --quiet --release --locked --workspace
fi
GATEWAY=${BLNK_GATEWAY_BIN:-$target_dir/release/blnk-gateway}
FAKE=${FAKE_BLNK_BIN:-$target_dir/release/fake-blnk}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2; exit 2
}

# wait_port PORT [PID LOG]: until something listens on PORT (30 s at most); if PID exits first,
# its LOG says why.
wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
      echo "the process meant to listen on 127.0.0.1:$1 exited:" >&2
      tail -20 "$3" >&2
      exit 2
    fi
    sleep 0.1
  done
  echo "nothing listening on 127.0.0.1:$1" >&2
  [ -n "${3:-}" ] && tail -20 "$3" >&2
  exit 2
}

export BLNK_SERVER_SECRET_KEY
BLNK_SERVER_SECRET_KEY=$(openssl rand -hex 32)
blnk_port=$(free_port)
BLNK_SERVER_PORT=$blnk_port "$FAKE" >"$work/fake.log" 2>&1 &
pids+=($!)
wait_port "$blnk_port" "$!" "$work/fake.log"

status=0
for kt in $KEY_TYPES; do
  echo "== testssl against the gateway, $kt certificate"
  case $kt in
    rsa) keyopt=(-newkey rsa:2048) ;;
    ec) keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    *) echo "unknown key type $kt" >&2; exit 2 ;;
  esac
  # A CA and a leaf signed by it, valid 90 days, so the scan judges the gateway's TLS and not a
  # self-signed or expiring test certificate.
  openssl req -x509 -nodes -days 90 "${keyopt[@]}" -subj "/CN=testssl CA $kt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -keyout "$work/$kt-ca-key.pem" -out "$work/$kt-ca.pem" 2>/dev/null
  openssl req -new -nodes "${keyopt[@]}" -subj "/CN=localhost" \
    -keyout "$work/$kt-key.pem" -out "$work/$kt.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature%s\n' \
    "$([ "$kt" = rsa ] && echo ,keyEncipherment)" >"$work/$kt.ext"
  openssl x509 -req -days 90 -in "$work/$kt.csr" -CA "$work/$kt-ca.pem" -CAkey "$work/$kt-ca-key.pem" \
    -CAcreateserial -extfile "$work/$kt.ext" -out "$work/$kt-cert.pem" 2>/dev/null
  # Each scan's gateway has its own listeners and state directory, so nothing left of the previous
  # one (a drain in progress) can stand in its way.
  port=$(free_port)
  admin_port=$(free_port)
  mkdir -p "$work/$kt"
  cat >"$work/$kt/gateway.json" <<JSON
{"server": {"secure": true, "port": "$blnk_port"},
 "gateway": {"listen": "127.0.0.1:$port", "admin_listen": "127.0.0.1:$admin_port",
             "limits": {"drain_timeout": "5s"}, "audit": {"path": "-"},
             "tls": {"cert": "../$kt-cert.pem", "key": "../$kt-key.pem"}}}
JSON
  "$GATEWAY" serve --config "$work/$kt/gateway.json" >"$work/gateway-$kt.log" 2>&1 &
  gw=$!
  pids+=("$gw")
  wait_port "$port" "$gw" "$work/gateway-$kt.log"

  json="$work/testssl-$kt.json"
  # -p protocols, -s cipher categories, -f forward secrecy, -U vulnerabilities (includes
  # renegotiation, CRIME, BREACH, POODLE, SWEET32, FREAK, LOGJAM, BEAST, LUCKY13, RC4, ROBOT),
  # -S server defaults (certificate, tickets, resumption), -h headers (HSTS).
  set +e
  timeout "$SCAN_TIMEOUT" "$TESTSSL" --quiet --color 0 --warnings off --nodns none \
    --ip 127.0.0.1 --add-ca "$work/$kt-ca.pem" --connect-timeout 5 --openssl-timeout 10 --sneaky \
    -p -s -f -U -S -h --jsonfile "$json" "localhost:$port" >"$work/testssl-$kt.txt" 2>&1
  rc=$?
  set -e
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  if [ ! -s "$json" ]; then
    echo "testssl produced no result (exit $rc):" >&2
    tail -30 "$work/testssl-$kt.txt" >&2
    exit 2
  fi
  # The flat JSON has one finding per object: "id", "ip", "port", "severity", "finding".
  # Certificate findings (cert_*: revocation URIs, validity, key size of the test certificate) are
  # the operator's, not the gateway's: printed, never failing.
  findings=$(tr -d '\n' <"$json" | grep -oE '\{[^{}]*\}' || true)
  pick() { echo "$findings" | grep -E "\"severity\" *: *\"($1)\"" | sed -E 's/.*"id" *: *"([^"]*)".*"severity" *: *"([^"]*)".*"finding" *: *"([^"]*)".*/    \2 \1: \3/' || true; }
  bad=$(pick 'MEDIUM|HIGH|CRITICAL|FATAL' | grep -vE '^ *[A-Z]+ cert_' || true)
  certificate=$(pick 'MEDIUM|HIGH|CRITICAL' | grep -E '^ *[A-Z]+ cert_' || true)
  low=$(pick 'LOW|WARN')
  echo "$findings" | grep -E '"id" *: *"(SSLv2|SSLv3|TLS1|TLS1_1|TLS1_2|TLS1_3|FS|PFS|HSTS_time|secure_renego|secure_client_renego|BREACH|ROBOT|HSTS|security_headers|cipherlist_[A-Z_0-9]*)"' \
    | sed -E 's/.*"id" *: *"([^"]*)".*"severity" *: *"([^"]*)".*"finding" *: *"([^"]*)".*/    \1 (\2): \3/' || true
  if [ -n "$low" ]; then echo "  low / warnings (not failing):"; echo "$low"; fi
  if [ -n "$certificate" ]; then echo "  about the test certificate (not failing):"; echo "$certificate"; fi
  if [ -n "$bad" ]; then
    echo "BAD VERDICT ($kt): findings of severity MEDIUM or above:" >&2
    echo "$bad" >&2
    status=1
  else
    echo "  verdict ($kt): clean (no finding of severity MEDIUM or above)"
  fi
done
exit $status
