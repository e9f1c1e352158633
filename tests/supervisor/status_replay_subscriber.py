#!/usr/bin/python3
"""An independent subscriber of pushcapd's status stream that follows docs/supervisor.md
("Replay"), with Debian's python3-zmq and python3-protobuf and protoc-generated code only.
Started before pushcapd, it must end up with every message from sequence 1 to the final
snapshot, each once, live or fetched from the replay socket; then every file_completed event
must name a file on disk of that size, and the final snapshot's counts must match the disk.

usage: status_replay_subscriber.py ENDPOINT PB2_DIR READY_FILE OUT_DIR [OUT_DIR...]
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


def decode(topic, body):
    msg = status_pb2.Snapshot() if topic == b"pushcap.status" else status_pb2.Event()
    msg.ParseFromString(body)
    return msg


def request(sock, first, last):
    req = status_pb2.ReplayRequest(from_sequence=first, to_sequence=last)
    sock.send_multipart([b"", req.SerializeToString()])


ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"pushcap.")
sub.setsockopt(zmq.RECONNECT_IVL, 10)  # pushcapd binds after we connect: join it quickly
sub.connect(endpoint)
open(ready_file, "w").close()

poller = zmq.Poller()
poller.register(sub, zmq.POLLIN)
replay = None
replay_endpoint = None
asked = False
messages = {}  # sequence -> (topic, decoded message)
live, replayed = [], []
final = None
problems = []
deadline = time.time() + 300
last_heard = None
while time.time() < deadline:
    if last_heard is not None and time.time() - last_heard > 15:
        break  # pushcapd is gone without a final snapshot we could complete
    for sock, _ in poller.poll(100):
        last_heard = time.time()
        if sock is sub:
            topic, body = sub.recv_multipart()
            msg = decode(topic, body)
            live.append(msg.sequence)
            messages[msg.sequence] = (topic.decode(), msg)
            if topic == b"pushcap.status":
                replay_endpoint = msg.replay_endpoint
                if msg.final:
                    final = msg.sequence
        else:
            frames = replay.recv_multipart()
            header = status_pb2.ReplayReply()
            header.ParseFromString(frames[1])
            pairs = frames[2:]
            if len(pairs) != 2 * header.count:
                problems.append("replay reply: count %d, %d frames" % (header.count, len(pairs)))
            for topic, body in zip(pairs[::2], pairs[1::2]):
                msg = decode(topic, body)
                replayed.append(msg.sequence)
                messages.setdefault(msg.sequence, (topic.decode(), msg))
            asked = False
    newest = max(messages) if messages else 0
    missing = [s for s in range(1, newest) if s not in messages]
    if replay is None and replay_endpoint:
        replay = ctx.socket(zmq.DEALER)
        replay.connect(replay_endpoint)
        poller.register(replay, zmq.POLLIN)
    if missing and replay is not None and not asked:
        request(replay, missing[0], missing[-1])
        asked = True
    if final is not None and not missing:
        request(replay, final + 1, 0)  # "I hold everything": pushcapd may exit
        break
if final is None:
    problems.append("no final snapshot (received up to %s)" % (max(messages) if messages else None))

if final is not None:
    gaps = [s for s in range(1, final + 1) if s not in messages]
    if gaps:
        problems.append("never received sequences %s" % gaps[:10])
if live and live[0] == 1:
    print("status_replay_subscriber: note: joined before the first message; replay not needed")

completed = {}
for seq in sorted(messages):
    topic, msg = messages[seq]
    if topic.startswith("pushcap.event."):
        kind = msg.WhichOneof("kind")
        if topic != "pushcap.event." + kind:
            problems.append("topic %s carries a %s event" % (topic, kind))
        if kind == "file_completed":
            completed[msg.file_completed.path] = msg.file_completed
    elif topic != "pushcap.status":
        problems.append("unexpected topic " + topic)

files = check_files(out_dirs, completed, problems)
for path in files:
    if path not in completed and not path.endswith(".pending"):
        problems.append("%s is on disk, but no event announced it" % path)
if final is not None:
    last = messages[final][1]
    counted = sum(t.files_completed for t in last.targets)
    if len(completed) != counted or not completed:
        problems.append("%d file_completed events, final snapshot counts %d" % (len(completed), counted))

for p in problems:
    print("status_replay_subscriber:", p)
print("status_replay_subscriber: %d messages (%d live, first live %s; %d replayed), %d files, %s" %
      (len(messages), len(live), live[0] if live else None, len(replayed), len(completed),
       "OK" if not problems else "FAILED"))
sys.exit(1 if problems else 0)
