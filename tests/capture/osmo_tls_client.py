#!/usr/bin/python3
"""An osmo-pcap client over TLS (Python's ssl module, i.e. OpenSSL: independent of the GnuTLS
collector). Sends COUNT pcap-mode packets from SOURCE to HOST:PORT, verifying the server against
CA; presents CERT/KEY unless they are "-"; with --plain it skips TLS altogether. Prints one
expected line per packet (as osmo_client.py) and exits 0 whether or not the server accepted it:
the collector's ring and log are the judges.
usage: osmo_tls_client.py HOST PORT SOURCE CA CERT KEY NAME COUNT [--plain]
"""
import socket
import ssl
import struct
import sys

host, port, source, ca, cert, key, name, count = sys.argv[1:9]
port, count = int(port), int(count)
plain = "--plain" in sys.argv[9:]


def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def msg(t, payload):
    return bytes([t, 0]) + struct.pack(">H", len(payload)) + payload


stream = [msg(0, struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 9000, 1))]
expected = []
for i in range(count):
    data = (name.encode() + b"/" + str(i).encode()) * (1 + i % 30)
    stream.append(msg(1, struct.pack("<IIII", 1700000000 + i, i, len(data), len(data)) + data))
    expected.append("%s %d %d %d %d" % (name, (1700000000 + i) * 10**9 + i * 1000, len(data), len(data), fnv(data)))

raw = socket.create_connection((host, port), timeout=20, source_address=(source, 0))
try:
    if plain:
        conn = raw
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca)
        if cert != "-":
            ctx.load_cert_chain(cert, key)
        conn = ctx.wrap_socket(raw, server_hostname="localhost")
    conn.sendall(b"".join(stream))
    # With TLS 1.3 a refused client certificate shows only now: wait for the server's verdict
    # (it never sends data, so anything but a timeout is an end).
    conn.settimeout(2)
    try:
        conn.recv(1)
    except (socket.timeout, TimeoutError):
        pass
except (ssl.SSLError, ConnectionError, OSError):
    pass
finally:
    raw.close()
print("\n".join(expected))
