#!/usr/bin/python3
"""An independent subscriber of pushcapd's status stream (Debian's python3-zmq and
python3-protobuf, with protoc-generated code). It records every message until pushcapd's final
snapshot, then checks that sequence numbers never skip or go back, and that what the status says
matches the files on disk.

usage: status_subscriber.py ENDPOINT PB2_DIR READY_FILE OUT_DIR [OUT_DIR...]
Exit 0 if every check holds; otherwise prints what failed and exits 1.
"""
import os
import sys
import time

import zmq

endpoint, pb2_dir, ready_file = sys.argv[1:4]
out_dirs = sys.argv[4:]
sys.path.insert(0, pb2_dir)
import status_pb2  # noqa: E402  (generated at build time)
from status_files_check import check_files  # noqa: E402

ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"pushcap.")
sub.setsockopt(zmq.RCVTIMEO, 1000)
sub.setsockopt(zmq.RECONNECT_IVL, 10)  # pushcapd binds after we connect: join it quickly
sub.connect(endpoint)
open(ready_file, "w").close()

problems = []
sequences = []
completed = {}  # path -> FileCompleted
last = None
deadline = time.time() + 300
while time.time() < deadline:
    try:
        topic, body = sub.recv_multipart()
    except zmq.Again:
        continue
    topic = topic.decode()
    if topic == "pushcap.status":
        snap = status_pb2.Snapshot()
        snap.ParseFromString(body)
        sequences.append(snap.sequence)
        last = snap
        done = snap.targets and all(t.state == status_pb2.STOPPED for t in snap.targets)
        if done and snap.captures and snap.captures[0].state == "stopped":
            break
    elif topic.startswith("pushcap.event."):
        ev = status_pb2.Event()
        ev.ParseFromString(body)
        sequences.append(ev.sequence)
        kind = ev.WhichOneof("kind")
        if topic != "pushcap.event." + kind:
            problems.append("topic %s carries a %s event" % (topic, kind))
        if kind == "file_completed":
            completed[ev.file_completed.path] = ev.file_completed
    else:
        problems.append("unexpected topic " + topic)
else:
    problems.append("no final snapshot within the deadline")

if len(sequences) < 2:
    problems.append("too few messages: %d" % len(sequences))
for a, b in zip(sequences, sequences[1:]):
    if b != a + 1:
        problems.append("sequence jumps from %d to %d" % (a, b))
        break

files = check_files(out_dirs, completed, problems)
if last is not None:
    for t in last.targets:
        mine = [p for p in files if os.path.basename(p).startswith(t.desc.split("-")[-1] + "_")]
        if t.files_completed != len(mine):
            problems.append("%s: status says %d files completed, disk has %d" % (t.desc, t.files_completed, len(mine)))
        on_disk = sum(files[p] for p in mine)
        if t.bytes_written != on_disk:
            problems.append("%s: status says %d bytes written, disk has %d" % (t.desc, t.bytes_written, on_disk))
        if t.packets_written == 0 or t.packets_written > t.packets_seen:
            problems.append("%s: packets written %d vs seen %d" % (t.desc, t.packets_written, t.packets_seen))
    counted = sum(t.files_completed for t in last.targets)
    # A subscriber that joined after message 1 may have missed events published before it; one
    # that saw message 1 must have seen every event.
    joined_late = not sequences or sequences[0] != 1
    if len(completed) > counted or (not joined_late and len(completed) != counted):
        problems.append("%d file_completed events, final snapshot counts %d (first sequence %s)"
                        % (len(completed), counted, sequences[0] if sequences else None))

for p in problems:
    print("status_subscriber:", p)
print("status_subscriber: %d messages, %d files completed, %s" %
      (len(sequences), len(completed), "OK" if not problems else "FAILED"))
sys.exit(1 if problems else 0)
