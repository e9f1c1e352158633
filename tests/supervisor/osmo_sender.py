#!/usr/bin/python3
"""Streams packets to an osmo-pcap collector the way one osmo-pcap client does (one connection
from a chosen source address, a link header, then one data message per packet), and writes what
the collector should store as a nanosecond pcap file, for the test to compare with.
usage: osmo_sender.py HOST PORT SOURCE_IP pcap|pcapng COUNT FIRST_SEC EXPECTED_PCAP
"""
import socket
import struct
import sys
import time

host, port, source, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count, first_sec, expected_path = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
# pcap mode in little-endian, pcapng in big-endian: both byte orders cross the wire.
endian = "<" if mode == "pcap" else ">"


def msg(kind, payload):
    return bytes([kind, 0]) + struct.pack(">H", len(payload)) + payload


def link_header():
    if mode == "pcap":
        return struct.pack(endian + "IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 9000, 1)
    shb = struct.pack(endian + "IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack(endian + "IIHHII", 1, 20, 1, 0, 9000, 20)
    return shb + idb


def data_message(sec, usec, data, wirelen):
    if mode == "pcap":
        return struct.pack(endian + "IIII", sec, usec, len(data), wirelen) + data
    ts = sec * 10**6 + usec
    pad = (len(data) + 3) // 4 * 4
    length = 32 + pad
    return (struct.pack(endian + "IIIIIII", 6, length, 0, ts >> 32, ts & 0xffffffff, len(data),
                        wirelen) + data + b"\0" * (pad - len(data)) + struct.pack(endian + "I", length))


def connect():
    # The collector may still be starting: osmo-pcap clients retry too.
    deadline = time.monotonic() + 30
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        try:
            s.connect((host, port))
            return s
        except ConnectionRefusedError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


stream = [msg(0, link_header())]
expected = [struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 9000, 1)]
for i in range(count):
    data = (b"%s:%d:" % (source.encode(), i)) * (1 + i % 60)
    sec, usec, wirelen = first_sec + i // 10, (i % 10) * 99991 + i % 7, len(data) + i % 3
    stream.append(msg(1, data_message(sec, usec, data, wirelen)))
    expected.append(struct.pack("<IIII", sec, usec * 1000, len(data), wirelen) + data)
s = connect()
s.sendall(b"".join(stream))
s.close()
with open(expected_path, "wb") as f:
    f.write(b"".join(expected))
