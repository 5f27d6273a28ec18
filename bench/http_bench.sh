#!/usr/bin/env bash
# bench/http_bench.sh - the HTTP adapter under load.
#
#   1. publish: wrk, keep-alive, POST /v1/publish/bench.pub with a 128-byte
#      body (no subscriber, then one NATS subscriber draining everything):
#      requests/s and latency, for http.threads = 1 and 2.
#   2. SSE fan-out: jn_http_sse holds 100 GET /v1/subscribe streams, one
#      NATS publisher sends N messages; deliveries/s over all streams.
#   3. fetch + ack: a memory stream preloaded with N messages over NATS, one
#      keep-alive HTTP client looping POST .../fetch?batch=B&wait=0 then
#      POST /v1/ack with the ids it got, until the consumer is drained:
#      messages/s for B = 1 and B = 100 (JetStream on, http.threads=1).
#
# Starts its own junction on free loopback ports (JetStream off, except for
# 3) for every configuration and stops it on every exit path.
#
#   bash bench/http_bench.sh
#
# Environment (all optional):
#   JN_BUILD_DIR       build dir with gateway/junction and bench/jn_http_sse (build)
#   JN_HTTP_SECS       wrk duration per run in seconds (10)
#   JN_HTTP_CONNS      wrk connections (50)
#   JN_HTTP_WRK_THREADS wrk threads (2)
#   JN_SSE_CLIENTS     SSE streams (100)
#   JN_SSE_MSGS        messages published for the fan-out (10000)
#   JN_SSE_SIZE        payload bytes (128)
#   JN_FETCH_MSGS      messages fetched and acked with batch 100 (20000)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath -m "${JN_BUILD_DIR:-$ROOT/build}")
JUNCTION=$BUILD/gateway/junction
SSE=$BUILD/bench/jn_http_sse
SECS=${JN_HTTP_SECS:-10}
CONNS=${JN_HTTP_CONNS:-50}
WTHREADS=${JN_HTTP_WRK_THREADS:-2}
CLIENTS=${JN_SSE_CLIENTS:-100}
MSGS=${JN_SSE_MSGS:-10000}
SIZE=${JN_SSE_SIZE:-128}
FMSGS=${JN_FETCH_MSGS:-20000}

command -v wrk >/dev/null || { echo "http_bench: wrk not found (apt-get install wrk, or make deps)" >&2; exit 2; }
[[ -x $JUNCTION ]] || { echo "http_bench: $JUNCTION not built" >&2; exit 2; }
[[ -x $SSE ]] || { echo "http_bench: $SSE not built (cmake --build ... --target jn_http_sse)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/jn-http-bench.XXXXXX)
PID=""
SUBPID=""
cleanup() {
	[[ -n $SUBPID ]] && kill "$SUBPID" 2>/dev/null && wait "$SUBPID" 2>/dev/null
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 - <<'EOF'
import random, socket
while True:
    p = random.randint(14000, 29999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError:
        s.close()
EOF
}

# start_junction THREADS [JETSTREAM] -> sets NPORT, HPORT, PID
start_junction() {
	NPORT=$(free_port)
	HPORT=$(free_port)
	while [[ $HPORT == "$NPORT" ]]; do HPORT=$(free_port); done
	cat >"$TMP/j.json" <<EOF
{ "server_name": "http-bench", "store_dir": "$TMP/store",
  "nats": {"host": "127.0.0.1", "port": $NPORT},
  "mqtt": {"enabled": false},
  "http": {"enabled": true, "host": "127.0.0.1", "port": $HPORT, "threads": $1,
           "max_connections": 4096},
  "jetstream": {"enabled": ${2:-false}} }
EOF
	"$JUNCTION" -c "$TMP/j.json" >"$TMP/junction.log" 2>&1 &
	PID=$!
	for _ in $(seq 200); do
		curl -sf "http://127.0.0.1:$HPORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "http_bench: junction did not start:" >&2
	cat "$TMP/junction.log" >&2
	exit 1
}

stop_junction() {
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=""
}

cat >"$TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 128)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

# A NATS subscriber that drains bench.pub (python3 speaks enough NATS).
drain_sub() {
	python3 - "$NPORT" <<'EOF' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(4096)
s.sendall(b'CONNECT {"verbose":false}\r\nSUB bench.pub 1\r\nPING\r\n')
buf = b""
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    if b"PING\r\n" in d:
        s.sendall(b"PONG\r\n")
EOF
	SUBPID=$!
	sleep 0.3
}

report() {
	# wrk output -> "req/s, avg latency, p99"
	awk '/Requests\/sec/ {r=$2} /Latency/ && !l {l=$2} /99%/ {p=$2} /Non-2xx/ {e=$NF}
	     END {printf "%s req/s, latency avg %s, p99 %s%s\n", r, l, p, (e ? ", non-2xx " e : "")}'
}

echo "== HTTP publish (wrk -t$WTHREADS -c$CONNS -d${SECS}s, keep-alive, 128 B body)"
for threads in 1 2; do
	start_junction "$threads"
	printf "  http.threads=%s, no subscriber:    " "$threads"
	wrk -t"$WTHREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$TMP/post.lua" \
		"http://127.0.0.1:$HPORT/v1/publish/bench.pub" 2>&1 | report
	drain_sub
	printf "  http.threads=%s, 1 NATS subscriber: " "$threads"
	wrk -t"$WTHREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$TMP/post.lua" \
		"http://127.0.0.1:$HPORT/v1/publish/bench.pub" 2>&1 | report
	kill "$SUBPID" 2>/dev/null; wait "$SUBPID" 2>/dev/null; SUBPID=""
	stop_junction
done

echo "== SSE fan-out (1 NATS publisher -> $CLIENTS SSE streams, $MSGS x $SIZE B)"
for threads in 1 2; do
	start_junction "$threads"
	printf "  http.threads=%s: " "$threads"
	"$SSE" --nats "nats://127.0.0.1:$NPORT" --http "$HPORT" --clients "$CLIENTS" \
		--msgs "$MSGS" --size "$SIZE"
	grep -c "slow consumer" "$TMP/junction.log" | sed 's/^/    slow consumers cut: /'
	stop_junction
done

echo "== fetch + ack (memory stream, 128 B messages, one keep-alive HTTP client)"
start_junction 1 true
python3 - "$NPORT" "$HPORT" "$FMSGS" <<'EOF'
import http.client, json, socket, sys, time
nport, hport, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
h = http.client.HTTPConnection("127.0.0.1", hport)
def call(method, path, body=None):
    h.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = h.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit("%s %s: %d %s" % (method, path, r.status, data))
    return json.loads(data)
call("PUT", "/v1/streams/BENCH", '{"subjects":["bench.js"],"storage":"memory"}')
s = socket.create_connection(("127.0.0.1", nport))
s.recv(4096)
s.sendall(b'CONNECT {"verbose":false}\r\n')
left = n
while left > 0:
    k = min(left, 1000)
    s.sendall((b"PUB bench.js 128\r\n" + b"x" * 128 + b"\r\n") * k)
    left -= k
s.sendall(b"PING\r\n")
buf = b""
while b"PONG" not in buf:
    buf += s.recv(4096)
while call("GET", "/v1/streams/BENCH")["state"]["messages"] < n:
    time.sleep(0.05)
for batch, name, want in ((1, "C1", min(n, 3000)), (100, "C100", n)):
    call("PUT", "/v1/streams/BENCH/consumers/" + name,
         '{"ack_policy":"explicit","max_ack_pending":-1}')
    got, reqs, t0 = 0, 0, time.time()
    while got < want:
        ms = call("POST", "/v1/streams/BENCH/consumers/%s/fetch?batch=%d&wait=0" % (name, batch))["messages"]
        if not ms:
            break
        a = call("POST", "/v1/ack", json.dumps({"ack": [m["ack"] for m in ms]}))
        got += a["acked"]
        reqs += 2
    dt = time.time() - t0
    print("  batch=%-3d %6d msgs fetched+acked in %.2fs: %.0f msgs/s, %.0f HTTP req/s" %
          (batch, got, dt, got / dt, reqs / dt))
EOF
stop_junction
