#!/usr/bin/env bash
# Makes a throwaway PKI for the TLS tests with GnuTLS's certtool: a CA, a server certificate
# (localhost, 127.0.0.1, ::1), a good client, a client revoked by the CA's CRL, and a client
# signed by an unrelated CA.   usage: make_test_pki.sh DIR
set -euo pipefail
cd "$1"
quiet() { "$@" > /dev/null 2>&1; }
key() { quiet certtool --generate-privkey --key-type ecdsa --outfile "$1"; }

cat > ca.tmpl <<T
cn = "pushcap test CA"
ca
cert_signing_key
crl_signing_key
expiration_days = 2
T
cat > server.tmpl <<T
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
expiration_days = 2
T
cat > client.tmpl <<T
cn = "osmo-pcap client"
tls_www_client
expiration_days = 2
T
cat > crl.tmpl <<T
crl_next_update = 2
crl_number = 1
T

for ca in ca otherca; do
    key $ca.key
    quiet certtool --generate-self-signed --load-privkey $ca.key --template ca.tmpl --outfile $ca.pem
done
key server.key
quiet certtool --generate-certificate --load-privkey server.key --load-ca-certificate ca.pem \
    --load-ca-privkey ca.key --template server.tmpl --outfile server.pem
for c in client revoked; do
    key $c.key
    quiet certtool --generate-certificate --load-privkey $c.key --load-ca-certificate ca.pem \
        --load-ca-privkey ca.key --template client.tmpl --outfile $c.pem
done
key stranger.key
quiet certtool --generate-certificate --load-privkey stranger.key --load-ca-certificate otherca.pem \
    --load-ca-privkey otherca.key --template client.tmpl --outfile stranger.pem
quiet certtool --generate-crl --load-ca-privkey ca.key --load-ca-certificate ca.pem \
    --load-certificate revoked.pem --template crl.tmpl --outfile crl.pem
