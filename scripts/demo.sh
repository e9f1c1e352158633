#!/usr/bin/env bash
# `make demo`: generate example traffic, push it offline through FMADIO's example config
# (its paths pointed at demo-out/), watch the status stream, and list the files produced.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/bin
OUT=$PWD/demo-out
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. example traffic: pushcap-gen (IMIX, VLAN, IPv4/IPv6, TCP/UDP/ICMP/ARP, 5 minutes)"
"$BIN/pushcap-gen" --out "$OUT/input.pcap" --count 500000 --duration 300 --seed 1
capinfos -c -d -u "$OUT/input.pcap" | sed 's/^/   /'

echo "== 2. FMADIO's push_realtime.lua, unchanged but for its paths"
sed "s|/mnt/remote0/push/|$OUT/push/|" examples/push_realtime.lua > "$OUT/push_realtime.lua"
grep -E 'Desc|Path|Split|FileName|FilterBPF' "$OUT/push_realtime.lua" | sed 's/^/   /'

echo "== 3. pushcapd --offline (status published on ipc://$OUT/status.sock)"
"$BIN/pushcap-status" --endpoint "ipc://$OUT/status.sock" > "$OUT/status.txt" 2>/dev/null &
status_pid=$!
trap 'kill $status_pid 2>/dev/null || true' EXIT
"$BIN/pushcapd" -c "$OUT/push_realtime.lua" --offline "$OUT/input.pcap" --instance demo \
    --status "ipc://$OUT/status.sock" --log-dir "$OUT/log"

echo "== 4. the last status snapshot (pushcap-status)"
awk '/^pushcap /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$OUT/status.txt" | sed 's/^/   /'

echo "== 5. the files, complete and named as FMADIO names them"
for target in all tcp; do
    n=$(ls "$OUT/push" | grep -c "^${target}_" || true)
    echo "   $target: $n files"
    ls -l "$OUT/push" | grep " ${target}_" | head -3 | awk '{print "     " $5 "  " $9}'
done
echo "   tcp subset checked against tcpdump:"
tcpdump --time-stamp-precision=nano -r "$OUT/input.pcap" -w "$OUT/oracle-tcp.pcap" 'net 192.168.1.0/24 and tcp' 2>/dev/null
want=$(capinfos -c -M "$OUT/oracle-tcp.pcap" | awk '/Number of packets/{print $NF}')
got=$(for f in "$OUT"/push/tcp_*.pcap; do capinfos -c -M "$f" | awk '/Number of packets/{print $NF}'; done | awk '{s+=$1} END{print s}')
echo "     tcpdump 'net 192.168.1.0/24 and tcp': $want packets; pushcap tcp_*.pcap: $got packets"
echo "   per-target logs (FMADIO format): $(ls "$OUT/log" | tr '\n' ' ')"
