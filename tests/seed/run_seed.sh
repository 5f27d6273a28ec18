#!/usr/bin/env bash
# run_seed.sh - runs the user's seed Go programs (tests/seed/*/main.go, copied
# byte for byte from the seed notes) unchanged against a server under test.
#
#   tests/seed/run_seed.sh [path/to/junction]
#   JN_TEST_SERVER=nats-server tests/seed/run_seed.sh      (reference run)
#
# The programs dial the fixed address localhost:4222, so each case runs in a
# private network namespace (unshare -rn) where the server under test owns
# 127.0.0.1:4222 without colliding with a `make run` on the host. If
# namespaces are not permitted the run is skipped (exit 77). The programs are
# built offline from Debian's golang-go + golang-github-nats-io-go-nats-dev;
# their absence is a failure (exit 1), since `make deps` installs them.
#
# Cases (each on a fresh server and store):
#   publish_dedup  stream qtest on qtest.>; the program twice; one message kept
#   kv             prints exactly "1000101"
#   dispatch       stream ORDERS on ORDERS.*, 3 orders; the endless pull loop
#                  runs 5 s (timeout exit 124 expected); every order acked and
#                  republished as "<n>,completed"
set -u

here=$(cd "$(dirname "$0")" && pwd)
server=${JN_TEST_SERVER:-junction}
PATH=$PATH:/usr/sbin:/usr/local/sbin
addr=127.0.0.1:4222
req() { python3 "$here/natsreq.py" --addr "$addr" "$@"; }

fail() { echo "seed: FAIL: $*"; exit 1; }

# ---- outside the namespace: check tools, build, re-enter ------------------
if [ -z "${JN_SEED_IN_NETNS:-}" ]; then
	case "$server" in
	junction)
		bin=${1:-}
		[ -n "$bin" ] && [ -x "$bin" ] || fail "junction binary not given or not executable: '${bin}'" ;;
	nats-server)
		bin=${JN_NATS_SERVER:-$(command -v nats-server)}
		[ -n "$bin" ] || fail "nats-server not found (apt-get install nats-server)" ;;
	*) fail "JN_TEST_SERVER=$server: expected junction or nats-server" ;;
	esac
	command -v go >/dev/null || fail "go not found (make deps / apt-get install golang-go)"
	command -v python3 >/dev/null || fail "python3 not found"
	gopath=/usr/share/gocode
	[ -f "$gopath/src/github.com/nats-io/nats.go/nats.go" ] ||
		fail "nats.go not found in $gopath (make deps / apt-get install golang-github-nats-io-go-nats-dev)"

	work=$(mktemp -d "${TMPDIR:-/tmp}/jn-seed.XXXXXX") || fail "mktemp"
	trap 'rm -rf "$work"' EXIT
	# GOPATH mode against Debian's source packages: no module proxy, no network.
	for p in publish_dedup kv dispatch; do
		(cd "$here/$p" && GO111MODULE=off GOPATH=$gopath GOFLAGS= GOPROXY=off GOENV=off \
			GOCACHE="$work/gocache" go build -o "$work/$p" .) ||
			fail "building $p with go $(go env GOVERSION 2>/dev/null) and $gopath failed"
	done
	echo "seed: built the 3 programs ($(go env GOVERSION), nats.go from $gopath)"

	if ! unshare -rn true 2>/dev/null; then
		echo "seed: SKIP: network namespaces not permitted (unshare -rn); the programs need 127.0.0.1:4222 to themselves"
		exit 77
	fi
	JN_SEED_IN_NETNS=1 JN_SEED_WORK="$work" JN_SEED_BIN="$bin" \
		unshare -rn bash "$0" "$@" </dev/null
	exit $?
fi

# ---- inside the namespace: 127.0.0.1:4222 is ours --------------------------
work=$JN_SEED_WORK
bin=$JN_SEED_BIN
ip link set lo up || fail "cannot bring up lo in the namespace"
echo "seed: server under test: $server ($bin)"

srv_pid=
start_server() {
	local case=$1 dir=$work/srv-$1
	mkdir -p "$dir"
	if [ "$server" = junction ]; then
		cat >"$dir/junction.json" <<-EOF
		{
		  "server_name": "junction-seed",
		  "store_dir": "$dir/store",
		  "nats": {"host": "127.0.0.1", "port": 4222},
		  "mqtt": {"enabled": false},
		  "http": {"enabled": false},
		  "jetstream": {"enabled": true}
		}
		EOF
		"$bin" -c "$dir/junction.json" >"$dir/server.log" 2>&1 &
	else
		"$bin" -js -a 127.0.0.1 -p 4222 -sd "$dir/store" >"$dir/server.log" 2>&1 &
	fi
	srv_pid=$!
	req wait || { tail -20 "$dir/server.log"; fail "$case: server did not listen on $addr"; }
}

stop_server() {
	local case=$1 st
	kill -TERM "$srv_pid" 2>/dev/null
	wait "$srv_pid"; st=$?
	srv_pid=
	# nats-server exits 1 on SIGTERM by design; junction promises 0.
	if [ "$server" = junction ] && [ "$st" -ne 0 ]; then
		tail -30 "$work/srv-$case/server.log"
		fail "$case: junction exited with status $st after SIGTERM"
	fi
}

case_fail() {
	local case=$1; shift
	echo "seed: FAIL: $case: $*"
	for f in "$work/$case".*.out "$work/$case".*.err; do
		[ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }
	done
	echo "--- server log (last lines)"; tail -30 "$work/srv-$case/server.log"
	[ -n "$srv_pid" ] && kill -TERM "$srv_pid" 2>/dev/null && wait "$srv_pid"
	exit 1
}

# Runs program $2 of case $1 as run $3 with timeout $4; sets $rc.
run_prog() {
	timeout "$4" "$work/$2" >"$work/$1.$3.out" 2>"$work/$1.$3.err" </dev/null
	rc=$?
}

# (B) publish with Nats-Msg-Id: 1, twice: the second is a duplicate.
c=publish_dedup
start_server $c
r=$(req req '$JS.API.STREAM.CREATE.qtest' '{"name":"qtest","subjects":["qtest.>"]}') ||
	case_fail $c "creating stream qtest: $r"
case $r in *'"error"'*) case_fail $c "creating stream qtest: $r" ;; esac
for n in 1 2; do
	run_prog $c publish_dedup $n 20s
	[ $rc -eq 0 ] || case_fail $c "run $n exited with $rc"
	grep -q '发送成功' "$work/$c.$n.err" || case_fail $c "run $n did not log 发送成功 (publish failed?)"
done
msgs=$(req get '$JS.API.STREAM.INFO.qtest' '' state.messages) || case_fail $c "STREAM.INFO: $msgs"
[ "$msgs" = 1 ] || case_fail $c "stream qtest holds '$msgs' messages after two publishes with Nats-Msg-Id 1, expected 1"
stop_server $c
echo "seed: PASS publish_dedup (2 runs, stream qtest holds 1 message)"

# (C) KV bucket mybkt: Put then Get prints the value.
c=kv
start_server $c
run_prog $c kv 1 20s
[ $rc -eq 0 ] || case_fail $c "exited with $rc"
out=$(cat "$work/$c.1.out")
[ "$out" = 1000101 ] && [ "$(wc -l <"$work/$c.1.out")" = 1 ] ||
	case_fail $c "stdout was '$out', expected exactly 1000101"
stop_server $c
echo "seed: PASS kv (printed 1000101)"

# (A) the DISPATCH pull loop on ORDERS.processed.
c=dispatch
start_server $c
r=$(req req '$JS.API.STREAM.CREATE.ORDERS' '{"name":"ORDERS","subjects":["ORDERS.*"]}') ||
	case_fail $c "creating stream ORDERS: $r"
case $r in *'"error"'*) case_fail $c "creating stream ORDERS: $r" ;; esac
for o in 1001 1002 1003; do
	r=$(req req ORDERS.processed "$o") || case_fail $c "publishing order $o: $r"
	case $r in *'"seq"'*) ;; *) case_fail $c "publishing order $o: no ack: $r" ;; esac
done
run_prog $c dispatch 1 5s
[ $rc -eq 124 ] || case_fail $c "the endless loop ended by itself with $rc (expected timeout's 124)"
for o in 1001 1002 1003; do
	grep -q "订单处理完毕：$o\$" "$work/$c.1.err" || case_fail $c "order $o was not processed"
done
ci=$(req req '$JS.API.CONSUMER.INFO.ORDERS.DISPATCH') || case_fail $c "CONSUMER.INFO: $ci"
si=$(req req '$JS.API.STREAM.INFO.ORDERS') || case_fail $c "STREAM.INFO: $si"
# The loop is killed at an arbitrary point: at most the batch in hand (10)
# may be delivered but not yet acked; everything before it must be acked.
python3 - "$ci" "$si" <<-'EOF' || case_fail $c "consumer state wrong: $ci"
	import json, sys
	ci, si = json.loads(sys.argv[1]), json.loads(sys.argv[2])
	assert "error" not in ci, ci
	cfg = ci["config"]
	assert cfg.get("durable_name") == "DISPATCH", cfg
	assert cfg.get("filter_subject") == "ORDERS.processed", cfg
	assert ci["ack_floor"]["stream_seq"] >= 3, "ack floor did not pass the 3 orders"
	assert 0 <= ci["num_ack_pending"] <= 10, "num_ack_pending %d" % ci["num_ack_pending"]
	assert ci["delivered"]["stream_seq"] >= 6, "the republished orders were not fetched"
	assert si["state"]["messages"] >= 6, "orders were not republished"
	print("seed: dispatch: stream ORDERS %d msgs, DISPATCH delivered %d ack_floor %d pending %d"
	      % (si["state"]["messages"], ci["delivered"]["stream_seq"],
	         ci["ack_floor"]["stream_seq"], ci["num_ack_pending"]))
EOF
grep -q '1001,completed' "$work/$c.1.err" || case_fail $c "republished '1001,completed' was not processed"
stop_server $c
echo "seed: PASS dispatch (orders acked and republished as <n>,completed)"
echo "seed: all 3 programs passed against $server"
