#!/usr/bin/env bash
# The hand-written baseline of `lab certs inject-mtls --force` in `make bench`: the same five certificates with
# the openssl CLI, as a person who knows exactly what to type would issue them (ECDSA P-256 keys, a root CA, an
# intermediate CA, a server certificate with its DNS and IP names, a client certificate, a self-signed impostor).
# Usage: bench_certs_openssl.sh OUT_DIR (prints nothing on success; exits non-zero on failure)
set -euo pipefail
out=$1
mkdir -p "$out"
cd "$out"
umask 077
subj="/C=AU/ST=New South Wales/O=Lab"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

key root
openssl req -x509 -new -key root.key -sha256 -days 3650 -subj "$subj/CN=Lab Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.crt
key intermediate
openssl req -new -key intermediate.key -subj "$subj/CN=Lab Intermediate CA" -out intermediate.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
openssl x509 -req -in intermediate.csr -CA root.crt -CAkey root.key -CAcreateserial -days 1825 -sha256 -extfile ca.ext \
  -out intermediate.crt 2>/dev/null

leaf() {  # name cn usage san
  key "$1"
  openssl req -new -key "$1.key" -subj "$subj/CN=$2" -out "$1.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' "$3" "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA intermediate.crt -CAkey intermediate.key -CAcreateserial -days 365 -sha256 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  cat "$1.crt" intermediate.crt > "$1-chain.crt"
}
leaf server haproxy.mtls-inject.lab serverAuth \
  "subjectAltName=DNS:haproxy.mtls-inject.lab,DNS:haproxy,DNS:localhost,IP:172.18.255.249,IP:127.0.0.1"
leaf client mtls-inject-client clientAuth ""
key impostor
openssl req -x509 -new -key impostor.key -sha256 -days 365 -subj "$subj/CN=haproxy.mtls-inject.lab" \
  -addext "subjectAltName=DNS:haproxy.mtls-inject.lab,IP:172.18.255.249" -out impostor.crt
cat root.crt > ca.crt
