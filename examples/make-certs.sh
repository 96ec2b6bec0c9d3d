#!/bin/sh
# Makes what examples/pubkey.json (left) and examples/pubkey-right.json (right) point at:
# a CA (certs/ca.pem) and, signed by it, left.example's and right.example's certificate
# and private key (certs/left.pem + certs/left.key, certs/right.pem + certs/right.key).
# Keys are ECDSA P-384; each certificate names its identity as a DNS subjectAltName, which
# is what local.id / remote.id match. Needs only openssl.
#
#   examples/make-certs.sh [directory]     (default: examples/certs next to this script)
#
# For a lab. In production each host makes its own key and only the certificate request
# travels: the CA key (ca.key) never leaves the CA. Existing files are not overwritten.
set -eu

out=${1:-"$(dirname "$0")/certs"}
days=${DAYS:-365}
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$out"
cd "$out"
for f in ca.key ca.pem left.key left.pem right.key right.pem; do
  [ ! -e "$f" ] || { echo "make-certs.sh: $out/$f exists; remove the old files first" >&2; exit 1; }
done
umask 077 # private keys readable by their owner only

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days "$days" -subj "/CN=tsvpn example CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

for side in left right; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$side.key"
  openssl req -new -key "$side.key" -out "$side.csr" -subj "/CN=$side.example"
  printf 'subjectAltName=DNS:%s.example\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' "$side" > "$side.ext"
  openssl x509 -req -in "$side.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -out "$side.pem" -extfile "$side.ext" 2>/dev/null
  rm -f "$side.csr" "$side.ext"
done
rm -f ca.srl
chmod 644 ca.pem left.pem right.pem
echo "made $out: ca.pem (and ca.key), left.pem + left.key (left.example), right.pem + right.key (right.example), valid $days days"
