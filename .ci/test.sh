#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when it is missing, then
# checks formatting and lints and runs every test. The README's test command.
#
#   .ci/test.sh                 # everything
#   .ci/test.sh -- complete     # extra arguments go to `cargo test`
#
# What the tests need besides Rust: curl and python3 with `requests` and the Blnk Python SDK
# (real clients against the gateway), openssl (the development certificate script, `s_client`
# for renegotiation and early data, signatures checked by another implementation), systemd's
# systemd-analyze and systemd-socket-activate (the unit and socket activation), redis-server
# (cluster mode: the tests start their own on a free port of 127.0.0.1), promtool from the
# package prometheus (the alerting rules and their unit tests), faketime (a cluster gateway whose
# clock is wrong), taskset and setpriv from util-linux (one core; an unprivileged user), kill
# from procps (signals to the real binary). Debian packages are installed with apt-get as root,
# or through sudo; Python packages with pip. Nothing is skipped when missing: the tests that need
# it fail and say how to install it.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_PACKAGES=("requests>=2.28" blnk-python==1.6.0)

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v systemd-socket-activate >/dev/null 2>&1 || need+=(systemd)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
# `kill` is also a shell builtin; the tests run the program.
type -P kill >/dev/null 2>&1 || need+=(procps)
if ((${#need[@]})); then
  echo "== installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u)
fi

if ! python3 -c 'import requests, blnk_sdk' 2>/dev/null; then
  echo "== installing Python packages: ${PY_PACKAGES[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}" \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${PY_PACKAGES[@]}"
fi

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
cargo test --workspace --locked "$@"
