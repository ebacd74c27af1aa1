#!/usr/bin/env bash
# The mail trace at scale (docs/BENCHMARKS.md, "Mail trace over 1M events"): starts the release
# collector, sends MESSAGES (default 77000, 13 lines each) generated postfix/amavis messages and the
# mail corpus over syslog TCP, waits until all is indexed, then times traces (server side took_us).
#
#   cargo build --release -p logwarden-collector -p logwarden --bins && bench/mail_trace.sh [MESSAGES]
set -euo pipefail
W=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LOGWARDEN_BIN_DIR:-$W/target/release}  # another build: LOGWARDEN_BIN_DIR=DIR
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=$T/data
python3 "$W/bench/mail_trace_gen.py" "${1:-77000}" > "$T/lines.txt"
"$BIN/logwarden-collector" run --listen 127.0.0.1:0 --data-dir "$D" --syslog-udp 127.0.0.1:0 --syslog-tcp 127.0.0.1:0 --syslog-tls 127.0.0.1:0 --retention-days 0 > $T/c.out 2>$T/c.err &
echo $! > $T/c.pid
for i in $(seq 50); do grep -q ready $T/c.out 2>/dev/null && break; sleep 0.2; done
URL=$(sed -n 's/^logwarden-collector listening on //p' $T/c.out)
TCP=$(sed -n 's/^logwarden-collector syslog tcp on //p' $T/c.out)
echo "collector $URL syslog $TCP"
start=$(date +%s.%N)
python3 - "$TCP" "$T/lines.txt" "$W" <<'PY'
import socket, sys
h, p = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((h, int(p)))
with open(sys.argv[2], 'rb') as f:
    while True:
        b = f.read(1 << 20)
        if not b: break
        s.sendall(b)
for name in ('mta1', 'mta2'):
    for line in open(f'{sys.argv[3]}/tests/data/mail/{name}/zimbra.log', 'rb'):
        s.sendall(b'<22>' + line)
s.close()
PY
want=$(( $(wc -l < "$T/lines.txt") + $(cat "$W"/tests/data/mail/mta*/zimbra.log | wc -l) ))
L="$BIN/logwarden --server $URL"
while true; do
  n=$(curl -s "$URL/api/v1/search?q=*&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [ "$n" -ge "$want" ] && break
  sleep 1
done
end=$(date +%s.%N)
echo "indexed $n events in $(echo "$end - $start" | bc) s"
for q in 4A1B2C3D01 7D2B3C4D08 '<b2.20261204@partner.example.net>' 9F0E1D2C03 bob@example.com user17@example.com; do
  for r in 1 2 3; do
    $L trace "$q" --since 2026-12-01T00:00:00Z -o json | python3 -c "import json,sys; v=json.load(sys.stdin); print('$q', 'messages', len(v['messages']), 'hops', sum(len(m['hops']) for m in v['messages']), 'took_ms', v['took_us']/1000)"
  done
done
# A generated message by its first queue id.
q=$(sed -n '1p' "$T/lines.txt" | sed 's/.*: \([0-9A-F]*\): client.*/\1/')
for r in 1 2 3; do
  $L trace "$q" --since 2026-12-01T00:00:00Z -o json | python3 -c "import json,sys; v=json.load(sys.stdin); print('$q', 'messages', len(v['messages']), 'hops', sum(len(m['hops']) for m in v['messages']), 'took_ms', v['took_us']/1000)"
done
kill "$(cat $T/c.pid)"
