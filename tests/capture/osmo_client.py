#!/usr/bin/python3
"""An independent osmo-pcap client for the collector tests: writes raw protocol bytes (pcap and
pcapng modes, both byte orders, and every malformed case of the protocol note) from chosen
source addresses, and prints what the collector should have stored, one line per packet:
    NAME TS_NS CAPLEN WIRELEN FNV1A64_OF_DATA
usage: osmo_client.py HOST4 PORT4 HOST6 PORT6
"""
import socket
import struct
import sys

host4, port4, host6, port6 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
expected = []


def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def msg(t, payload, length=None):
    return bytes([t, 0]) + struct.pack(">H", len(payload) if length is None else length) + payload


def pcap_header(e, snap=9000, link=1):
    return struct.pack(e + "IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snap, link)


def record(e, sec, usec, data, caplen=None):
    return struct.pack(e + "IIII", sec, usec, len(data) if caplen is None else caplen, len(data) + 4) + data


def shb(e):
    return struct.pack(e + "IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)


def idb(e, link, snap):
    return struct.pack(e + "IIHHII", 1, 20, link, 0, snap, 20)


def epb(e, iface, usec, data):
    pad = (len(data) + 3) // 4 * 4
    length = 32 + pad
    return (struct.pack(e + "IIIIIII", 6, length, iface, usec >> 32, usec & 0xffffffff, len(data), len(data))
            + data + b"\0" * (pad - len(data)) + struct.pack(e + "I", length))


def connect(source, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.connect((host4, port4) if family == socket.AF_INET else (host6, port6))
    return s


def payload(name, i):
    return (name.encode() + b":" + str(i).encode()) * (1 + i % 40)


def send_pcap(name, source, endian, count, first_sec, family=socket.AF_INET):
    s = connect(source, family)
    stream = [msg(0, pcap_header(endian))]
    for i in range(count):
        data = payload(name, i)
        stream.append(msg(1, record(endian, first_sec + i, i * 7, data)))
        expected.append("%s %d %d %d %d" % (name, (first_sec + i) * 10**9 + i * 7000, len(data), len(data) + 4, fnv(data)))
    s.sendall(b"".join(stream))
    s.close()


def send_pcapng(name, source, endian, count):
    s = connect(source)
    stream = [msg(0, shb(endian) + idb(endian, 1, 9000) + idb(endian, 101, 9000))]
    for i in range(count):
        data = payload(name, i)
        usec = 1700000000 * 10**6 + i * 1001
        stream.append(msg(1, epb(endian, i % 2, usec, data)))
        expected.append("%s %d %d %d %d" % (name, usec * 1000, len(data), len(data), fnv(data)))
    s.sendall(b"".join(stream))
    s.close()


def send_and_expect_close(source, data):
    """Sends a malformed stream; the collector must close the connection (EOF or reset)."""
    s = connect(source)
    try:
        s.sendall(data)
        s.settimeout(20)
        while s.recv(4096):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()


good = pcap_header("<")
malformed = [
    msg(0, good) + msg(7, b"x"),                                     # unknown type
    msg(1, record("<", 1, 0, b"abc")),                               # data before the link header
    msg(0, pcap_header("<", snap=70000)),                            # snaplen over max-snaplen
    msg(0, good) + msg(1, record("<", 1, 0, b"abc", caplen=9)),      # caplen contradicts the length
    msg(0, b"\x5a" * 24),                                            # garbage link header
    msg(0, shb("<") + idb("<", 1, 9000)) + msg(1, b"\0" * 40),       # not an EPB
]

send_pcap("good", "127.0.0.1", "<", 200, 1700000000)
send_pcap("be", "127.0.0.2", ">", 200, 1700001000)
send_pcapng("ng", "127.0.0.3", ">", 200)
send_pcap("v6", "::1", "<", 100, 1700002000, socket.AF_INET6)
for m in malformed:
    send_and_expect_close("127.0.0.4", m)
send_and_expect_close("127.0.0.9", msg(0, good))                    # not an allowed client
send_pcap("good", "127.0.0.1", "<", 100, 1700003000)                 # still served afterwards
print("\n".join(expected))
