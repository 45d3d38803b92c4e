#!/usr/bin/env bash
# Makes a development CA, a server certificate for localhost/127.0.0.1, and a client certificate
# for trying client-certificate (inject) mode, in this directory. Never use these in production:
# the private keys sit next to the certificates and nothing protects them.
#
#   certs/make-dev-cert.sh            # writes certs/dev-*.pem, keeps existing files
#   certs/make-dev-cert.sh --force    # replaces them
set -euo pipefail
cd "$(dirname "$0")"
if [[ -e dev-cert.pem && "${1:-}" != "--force" ]]; then
  echo "certs/dev-cert.pem exists; pass --force to replace it" >&2
  exit 0
fi
umask 077
days=30
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=blnk-gateway dev CA" -keyout dev-ca-key.pem -out dev-ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
issue() { # name cn extensions
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA dev-ca.pem -CAkey dev-ca-key.pem -CAcreateserial -days "$days" \
    -extfile <(printf '%s\n' "$3") -out "$1.pem" 2>/dev/null
  rm -f "$1.csr"
}
issue dev-server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth"
issue dev-client dev-client "extendedKeyUsage=clientAuth"
# The server presents its chain, leaf then CA, so `curl --cacert certs/dev-cert.pem` works with
# this file as with the self-signed one that gateway.tls.dev_self_signed makes.
cat dev-server.pem dev-ca.pem > dev-cert.pem
mv dev-server-key.pem dev-key.pem
rm -f dev-server.pem dev-ca.srl
chmod 644 dev-ca.pem dev-cert.pem dev-client.pem
echo "wrote certs/dev-ca.pem (trust this), certs/dev-cert.pem + dev-key.pem (server), certs/dev-client.pem + dev-client-key.pem (client)"
