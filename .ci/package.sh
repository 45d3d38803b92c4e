#!/usr/bin/env bash
# The Debian package, built and used as an operator gets it: built from this repository
# (debhelper, debian/), checked by lintian, installed with apt, every installed file's owner and
# mode checked, `check` run as the service user before and after Blnk's key and a certificate are
# put in place, the installed units verified and read (systemd is not PID 1 on CI machines, so
# nothing is started through systemctl), the gateway served as the service user from the
# installed configuration and asked over TLS, the help's examples run as that user, then an
# upgrade that keeps the operator's configuration, a remove, and a purge, each checked for what
# it leaves.
#
#   .ci/package.sh             # as root, on a machine where blnk-gateway is not installed
#
# It installs, upgrades and purges the package, and purge deletes /etc/blnk-gateway and the audit
# log: it refuses to run where blnk-gateway is installed already, so it never touches a real
# installation. What it needs (debhelper, lintian, systemd, man-db, openssl, curl) is installed
# with apt-get when missing. The release build is `cargo build --release --locked --workspace`,
# as in the README, so a build made before is used as it is.
#
# Exit: 0 the package passed, 1 a check failed, 2 could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/debian
failures=0
started=$SECONDS

say() { echo "== $*"; }
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
die() {
  echo "$*" >&2
  exit 2
}

[ "$(id -u)" = 0 ] || die ".ci/package.sh installs and purges a package: run it as root (CI does)"
if dpkg-query -W -f='${Status}' blnk-gateway 2>/dev/null | grep -q 'installed'; then
  die "blnk-gateway is installed on this machine; .ci/package.sh would purge it (and its /etc/blnk-gateway and audit log): run it on a machine without it"
fi

need=()
for tool in dh:debhelper dpkg-buildpackage:dpkg-dev lintian:lintian systemd-analyze:systemd \
  systemd-sysusers:systemd man:man-db openssl:openssl curl:curl runuser:util-linux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if ((${#need[@]})); then
  say "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

work=$(mktemp -d)
gw_pid=""
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
  rm -rf "$work"
  debian/rules clean >/dev/null 2>&1 || true
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
say "build (dpkg-buildpackage -b, debhelper)"
mkdir -p "$out"
rm -f "$out"/blnk-gateway_*
build_started=$SECONDS
dpkg-buildpackage -b --no-sign \
  --buildinfo-option="-u$out" --changes-option="-u$out" \
  --buildinfo-file="$out/blnk-gateway.buildinfo" --changes-file="$out/blnk-gateway.changes" \
  >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  die "the package did not build"
}
deb=$(ls "$out"/blnk-gateway_*_"$(dpkg --print-architecture)".deb)
echo "  $deb ($((SECONDS - build_started)) s, $(du -k "$deb" | cut -f1) KiB)"

say "lintian"
# Any error or warning fails; what remains is explained in debian/blnk-gateway.lintian-overrides.
if ! lintian --fail-on error,warning --info "$deb"; then
  fail "lintian reports errors or warnings (above)"
fi

# ---------------------------------------------------------------------------------------------
say "install (apt-get install ./$deb)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2
  die "apt-get could not install the package"
}

say "owner and mode of every installed file"
# owner group mode path: what differs from root root 0644 (files) / 0755 (directories)
expected=$(
  cat <<'EOF'
root root 0755 /usr/bin/blnk-gateway
root blnk-gateway 0750 /etc/blnk-gateway
root blnk-gateway 0750 /etc/blnk-gateway/tls
root blnk-gateway 0640 /etc/blnk-gateway/blnk.json
EOF
)
checked=0
while IFS= read -r path; do
  [ -e "$path" ] || [ -L "$path" ] || { fail "$path is listed by dpkg -L but missing"; continue; }
  [ -L "$path" ] && continue
  want=$(awk -v p="$path" '$4 == p { print $1, $2, $3 }' <<<"$expected")
  if [ -z "$want" ]; then
    if [ -d "$path" ]; then want="root root 0755"; else want="root root 0644"; fi
  fi
  have=$(stat -c '%U %G %04a' "$path")
  [ "$have" = "$want" ] || fail "$path is $have, expected $want"
  checked=$((checked + 1))
done < <(dpkg -L blnk-gateway | grep -v '^/\.$')
for dir in /var/lib/blnk-gateway /var/log/blnk-gateway; do
  have=$(stat -c '%U %G %04a' "$dir" 2>/dev/null || echo missing)
  [ "$have" = "blnk-gateway blnk-gateway 0750" ] || fail "$dir is $have, expected blnk-gateway blnk-gateway 0750"
done
echo "  $checked packaged paths and the state and log directories"
for path in /usr/share/man/man1/blnk-gateway.1.gz /usr/share/man/man1/blnk-gateway-check.1.gz \
  /usr/share/bash-completion/completions/blnk-gateway /usr/share/zsh/vendor-completions/_blnk-gateway \
  /usr/share/fish/vendor_completions.d/blnk-gateway.fish \
  /usr/share/blnk-gateway/prometheus/blnk-gateway-rules.yml /usr/share/doc/blnk-gateway/README.md \
  /usr/share/doc/blnk-gateway/docs/configuration.md; do
  [ -f "$path" ] || fail "$path is not installed"
done
user=$(getent passwd blnk-gateway || true)
uid=$(cut -d: -f3 <<<"$user")
shell=$(cut -d: -f7 <<<"$user")
{ [ -n "$uid" ] && [ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ]; } ||
  fail "the blnk-gateway user is not a system user with no login shell: $user"
dpkg-query -W -f='${Conffiles}\n' blnk-gateway | grep -q ' /etc/blnk-gateway/blnk.json ' ||
  fail "/etc/blnk-gateway/blnk.json is not a conffile"

# ---------------------------------------------------------------------------------------------
say "the units, as installed (read, not started: systemd need not be PID 1 here)"
unit_dir=$(dirname "$(dpkg -L blnk-gateway | grep '/blnk-gateway\.service$')")
if ! systemd-analyze verify "$unit_dir/blnk-gateway.service" "$unit_dir/blnk-gateway.socket"; then
  fail "systemd-analyze verify refuses the installed units"
fi
grep -q '^ExecStart=/usr/bin/blnk-gateway serve --config /etc/blnk-gateway/blnk.json$' "$unit_dir/blnk-gateway.service" ||
  fail "ExecStart does not run /usr/bin/blnk-gateway on /etc/blnk-gateway/blnk.json"
for unit in blnk-gateway.service blnk-gateway.socket; do
  state=$(systemctl is-enabled "$unit" 2>/dev/null || true)
  [ "$state" = disabled ] || fail "$unit is '$state' after installation; it must wait for the operator (disabled)"
done
score=$(systemd-analyze security --offline=true "$unit_dir/blnk-gateway.service" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' ||
  fail "systemd-analyze security rates the installed unit '$score' (2.0 or better expected)"
echo "  verified; not enabled; exposure $score"

# ---------------------------------------------------------------------------------------------
as_service() { runuser -u blnk-gateway -- "$@"; }
config=/etc/blnk-gateway/blnk.json

say "check as the service user, before the key and certificate are in place"
set +e
before=$(as_service blnk-gateway check --config "$config" 2>&1)
rc=$?
set -e
[ "$rc" = 78 ] || fail "check exited $rc before the key and certificate were in place (78 expected): $before"
for expected in "gateway.secret_key_file: /etc/blnk-gateway/secret_key: file not found (put Blnk's master key in it" \
  "gateway.tls.cert: /etc/blnk-gateway/tls/fullchain.pem: file not found (a certificate chain and its key from an ACME client"; do
  grep -qF "$expected" <<<"$before" || fail "check before setup does not say: $expected"$'\n'"$before"
done

say "Blnk's key and a certificate put in place as the README says"
# The README's own commands, with a test CA standing in for an ACME client or the organisation's.
openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=package test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=localhost" \
  -keyout "$work/privkey.pem" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -days 2 -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" \
  -CAcreateserial -extfile "$work/ext" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/ca.pem" >"$work/fullchain.pem"
BLNK_KEY=$(openssl rand -hex 32)
(
  cd "$work"
  printf '%s\n' "$BLNK_KEY" | install -m 0640 -o root -g blnk-gateway /dev/stdin /etc/blnk-gateway/secret_key
  install -m 0640 -o root -g blnk-gateway fullchain.pem privkey.pem /etc/blnk-gateway/tls/
)

say "check as the service user"
if ! ok=$(as_service blnk-gateway check --config "$config" 2>&1); then
  fail "check as blnk-gateway refuses the installed configuration with the key and certificate:"$'\n'"$ok"
fi
grep -qF "idempotency=/var/lib/blnk-gateway/idempotency.redb" <<<"$ok" || fail "check's OK line does not name the store in /var/lib: $ok"
grep -qF "audit=/var/log/blnk-gateway/audit.log" <<<"$ok" || fail "check's OK line does not name the audit log in /var/log: $ok"
grep -q "$BLNK_KEY" <<<"$ok" && fail "check printed the key"

say "serve as the service user from the installed configuration, asked over TLS"
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}
port=$(free_port)
admin=$(free_port)
runuser -u blnk-gateway -- env BLNK_GATEWAY_LISTEN="127.0.0.1:$port" BLNK_GATEWAY_ADMIN_LISTEN="127.0.0.1:$admin" \
  blnk-gateway serve --config "$config" >"$work/serve.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && break
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1; then
  cat "$work/serve.log" >&2
  die "the installed gateway did not start within 20 s (its log is above)"
fi
answer=$(curl -s --cacert "$work/ca.pem" "https://localhost:$port/ledgers" || true)
grep -q AUTH_MISSING_API_KEY <<<"$answer" || fail "a request without a key was not refused by the gateway: $answer"
ready=$(curl -s "http://127.0.0.1:$admin/readyz" || true)
grep -q "cannot connect to Blnk at http://127.0.0.1:5001" <<<"$ready" || fail "/readyz without Blnk says: $ready"
kill -TERM "$gw_pid"
for _ in $(seq 1 200); do kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$gw_pid" 2>/dev/null; then fail "the gateway did not stop within 20 s of SIGTERM"; kill -KILL "$gw_pid"; fi
wait "$gw_pid" 2>/dev/null || true
gw_pid=""
for spec in "/var/log/blnk-gateway/audit.log blnk-gateway 0640" "/var/lib/blnk-gateway/idempotency.redb blnk-gateway 0"; do
  read -r path owner mode <<<"$spec"
  [ -f "$path" ] || { fail "serve did not create $path"; continue; }
  [ "$(stat -c %U "$path")" = "$owner" ] || fail "$path is owned by $(stat -c %U "$path"), expected $owner"
  [ "$mode" = 0 ] || [ "$(stat -c %04a "$path")" = "$mode" ] || fail "$path has mode $(stat -c %04a "$path"), expected $mode"
done
as_service blnk-gateway audit verify /var/log/blnk-gateway/audit.log >/dev/null || fail "the installed gateway's audit log does not verify"

say "the help's examples, run as the service user"
keygen=$(blnk-gateway audit keygen --help | sed -n 's/^  sudo -u blnk-gateway blnk-gateway audit keygen /audit keygen /p')
[ -n "$keygen" ] || fail "audit keygen --help has no example run as the service user"
# shellcheck disable=SC2086 # the example's own words
as_service blnk-gateway $keygen >/dev/null || fail "audit keygen --help's example fails as the service user: $keygen"
set +e
keys=$(blnk-gateway keys new --config "$config" --name pay --scopes data:read 2>&1)
rc=$?
set -e
{ [ "$rc" = 78 ] && grep -qF '"clients_file": "clients.json"' <<<"$keys"; } ||
  fail "keys new on the installed configuration does not say what to add (exit $rc): $keys"

# ---------------------------------------------------------------------------------------------
say "upgrade: the operator's configuration, key and modes stay"
sed -i 's/"max_connections": 10000/"max_connections": 9000/' "$config"
mkdir "$work/next"
dpkg-deb -R "$deb" "$work/next/root"
version=$(dpkg-deb -f "$deb" Version)
sed -i "s/^Version: .*/Version: $version+next/" "$work/next/root/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/next/root" "$work/next/blnk-gateway_next.deb" >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold \
  "$work/next/blnk-gateway_next.deb" >"$work/upgrade.log" 2>&1 || {
  cat "$work/upgrade.log" >&2
  fail "the upgrade failed"
}
[ "$(dpkg-query -W -f='${Version}' blnk-gateway)" = "$version+next" ] || fail "the upgrade did not happen"
grep -q '"max_connections": 9000' "$config" || fail "the upgrade replaced the operator's configuration"
[ -f /etc/blnk-gateway/secret_key ] || fail "the upgrade removed the key"
for spec in "/etc/blnk-gateway 0750" "/etc/blnk-gateway/blnk.json 0640"; do
  read -r path mode <<<"$spec"
  [ "$(stat -c '%G %04a' "$path")" = "blnk-gateway $mode" ] || fail "after the upgrade $path is $(stat -c '%U %G %04a' "$path")"
done
as_service blnk-gateway check --config "$config" >/dev/null 2>&1 || fail "check fails after the upgrade"

# ---------------------------------------------------------------------------------------------
say "remove: the configuration, key, certificate, logs, state and user stay"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq blnk-gateway >"$work/remove.log" 2>&1 || {
  cat "$work/remove.log" >&2
  fail "apt-get remove failed"
}
[ ! -e /usr/bin/blnk-gateway ] || fail "remove left /usr/bin/blnk-gateway"
for path in "$config" /etc/blnk-gateway/secret_key /etc/blnk-gateway/tls/privkey.pem \
  /var/log/blnk-gateway/audit.log /var/lib/blnk-gateway/idempotency.redb; do
  [ -e "$path" ] || fail "remove deleted $path"
done

say "purge: /etc/blnk-gateway, the logs and the state go; the user and group stay"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq blnk-gateway >"$work/purge.log" 2>&1 || {
  cat "$work/purge.log" >&2
  fail "apt-get purge failed"
}
for path in /etc/blnk-gateway /var/log/blnk-gateway /var/lib/blnk-gateway "$unit_dir/blnk-gateway.service"; do
  [ ! -e "$path" ] || fail "purge left $path"
done
! dpkg-statoverride --list | grep -q blnk-gateway || fail "purge left statoverrides: $(dpkg-statoverride --list | grep blnk-gateway)"
getent passwd blnk-gateway >/dev/null || fail "purge removed the user (it is meant to stay)"
dpkg-query -W -f='${Status}' blnk-gateway 2>/dev/null | grep -q 'not-installed\|config-files' || true
if dpkg-query -W -f='${Status}' blnk-gateway 2>/dev/null | grep -q ' installed'; then fail "blnk-gateway is still installed"; fi

echo "== package test: $((SECONDS - started)) s"
if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "the package passed"
