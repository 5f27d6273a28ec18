#!/usr/bin/env bash
# bench/mqtt_bench.sh - Junction's MQTT listener next to mosquitto and
# nats-server's MQTT, in one run.
#
# Starts the three brokers on free loopback ports (mosquitto from a temp
# config, persistence as its default, i.e. off; nats-server with mqtt, which
# needs JetStream and a server_name, store in a temp dir; Junction with its
# MQTT listener and defaults, store in a temp dir), runs every workload of
# jn_mqtt_bench against each REPS times (fresh brokers every repetition,
# rotating who goes first), and prints one markdown table of medians:
#     workload | metric | mosquitto | nats-server | junction | junction-1w | ratios
# junction-1w is Junction with "workers": 1, single-threaded like mosquitto:
# with two workers a publisher and a subscriber on different workers cost a
# cross-thread hand-off per message, which the latency workload shows.
#
# Workloads (bench/mqtt.c): QoS 0 and QoS 1 throughput, 2 publishers -> 2
# subscribers on one topic (plain) and on a "+" filter (wild); QoS 1 with
# RETAIN, 2 publishers -> 1 subscriber (every publish replaces a retained
# message: Junction acknowledges it once that is fsynced, mosquitto keeps it
# in memory, nats-server stores it in a stream); QoS 1 end-to-end latency
# p50/p99 (one message in flight); server RSS per idle MQTT connection (1000
# connections).
#
#   JN_BUILD_DIR=build-x bash bench/mqtt_bench.sh
#
# Environment (all optional):
#   JN_BUILD_DIR       build dir with bench/jn_mqtt_bench and gateway/junction (build)
#   JUNCTION_BIN       junction binary (default $JN_BUILD_DIR/gateway/junction)
#   MOSQUITTO_BIN      mosquitto binary (default /usr/sbin/mosquitto)
#   NATS_SERVER_BIN    nats-server binary (default: nats-server on PATH or /usr/sbin)
#   JN_BENCH_REPS      repetitions (3); the table shows the median
#   JN_BENCH_SECS      time cap of each sending phase in seconds (3)
#   JN_BENCH_SIZE      payload bytes (128)
#   JN_BENCH_SERVERS   subset, e.g. "mosquitto junction" (all four)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath -m "${JN_BUILD_DIR:-$ROOT/build}")
BENCH=$BUILD/bench/jn_mqtt_bench
JUNCTION=${JUNCTION_BIN:-$BUILD/gateway/junction}
MOSQ=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
NATS=${NATS_SERVER_BIN:-$(command -v nats-server || command -v /usr/sbin/nats-server || true)}
REPS=${JN_BENCH_REPS:-3}
SECS=${JN_BENCH_SECS:-3}
SIZE=${JN_BENCH_SIZE:-128}
read -r -a SERVERS <<<"${JN_BENCH_SERVERS:-mosquitto nats-server junction junction-1w}"

die() { echo "mqtt_bench: $*" >&2; exit 1; }
[[ -x $BENCH ]] || die "$BENCH not built (cmake --build $BUILD --target jn_mqtt_bench)"
[[ -x $JUNCTION ]] || die "$JUNCTION not built"
[[ -x $MOSQ ]] || die "mosquitto not found ($MOSQ)"
[[ -n $NATS && -x $NATS ]] || die "nats-server not found"

TMP=$(mktemp -d /tmp/jn-mqtt-bench.XXXXXX)
declare -A PID=() PORT=()

stop_server() {
	local s=$1 p=${PID[$1]:-}
	[[ -n $p ]] || return 0
	kill "$p" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	PID[$s]=
}
cleanup() {
	for s in "${!PID[@]}"; do stop_server "$s"; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((14000 + RANDOM % 16000))
		port_in_use "$p" || { echo "$p"; return 0; }
	done
	die "no free port found"
}
wait_listening() {   # port pid
	for _ in $(seq 200); do
		kill -0 "$2" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

start_server() {
	local s=$1 port
	port=$(free_port)
	PORT[$s]=$port
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	rm -rf "$TMP/store-$s" && mkdir -p "$TMP/store-$s"
	case $s in
	mosquitto)
		# a loopback listener, anonymous; the in-flight window and queue of
		# the other two (64 unacknowledged, a deep queue) so none drops
		printf 'listener %d 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 64\nmax_queued_messages 100000\nlog_dest stderr\nlog_type error\nlog_type warning\n' \
			"$port" >"$TMP/mosquitto.conf"
		"$MOSQ" -c "$TMP/mosquitto.conf" >>"$TMP/mosquitto.log" 2>&1 &
		;;
	nats-server)
		printf 'listen: "127.0.0.1:%d"\nserver_name: "bench"\njetstream { store_dir: "%s" }\nmqtt { listen: "127.0.0.1:%d" }\n' \
			"$(free_port)" "$TMP/store-$s" "$port" >"$TMP/nats.conf"
		"$NATS" -c "$TMP/nats.conf" >>"$TMP/nats-server.log" 2>&1 &
		;;
	junction | junction-1w)
		local workers=0   # 0: one per core
		[[ $s == junction-1w ]] && workers=1
		printf '{\n  "workers": %d,\n  "store_dir": "%s",\n  "nats": { "host": "127.0.0.1", "port": %d },\n  "mqtt": { "enabled": true, "host": "127.0.0.1", "port": %d, "max_queued_messages": 100000 },\n  "http": { "enabled": false }\n}\n' \
			"$workers" "$TMP/store-$s" "$(free_port)" "$port" >"$TMP/$s.json"
		"$JUNCTION" -c "$TMP/$s.json" >>"$TMP/$s.log" 2>&1 &
		;;
	esac
	PID[$s]=$!
	if ! wait_listening "$port" "${PID[$s]}"; then
		echo "mqtt_bench: $s did not start on 127.0.0.1:$port; its log:" >&2
		tail -n 20 "$TMP/$s.log" >&2
		stop_server "$s"
		return 1
	fi
}

# name | jn_mqtt_bench arguments
WORKLOADS=(
	"idle|idle --conns 1000"   # first: on a fresh broker, no memory to reuse
	"qos0-plain|tput --qos 0 --pubs 2 --subs 2 --count 2000000"
	"qos0-wild|tput --qos 0 --pubs 2 --subs 2 --wild --count 2000000"
	"qos1-plain|tput --qos 1 --pubs 2 --subs 2 --count 1000000"
	"qos1-wild|tput --qos 1 --pubs 2 --subs 2 --wild --count 1000000"
	"qos1-retain|tput --qos 1 --pubs 2 --subs 1 --wild --retain --count 1000000"
	"qos1-latency|lat --count 5000"
)

RAW=$TMP/raw.tsv
: >"$RAW"
for rep in $(seq "$REPS"); do
	# rotate the order so no broker always runs first
	order=("${SERVERS[@]:$((rep % ${#SERVERS[@]}))}" "${SERVERS[@]:0:$((rep % ${#SERVERS[@]}))}")
	for s in "${order[@]}"; do
		start_server "$s" || die "$s did not start"
		for w in "${WORKLOADS[@]}"; do
			name=${w%%|*}
			read -r -a args <<<"${w#*|}"
			echo "rep $rep/$REPS: $s $name" >&2
			"$BENCH" "${args[@]}" --host 127.0.0.1 --port "${PORT[$s]}" --size "$SIZE" \
				--secs "$SECS" --pid "${PID[$s]}" --name "$name" 2>>"$TMP/bench.log" |
				awk -v s="$s" -F'\t' '$1 == "RESULT" { print s "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6 }' >>"$RAW"
			sync
		done
		stop_server "$s"
	done
done

echo
echo "## MQTT: junction vs mosquitto vs nats-server ($(date -u +%Y-%m-%d), $(nproc) cores, payload ${SIZE} B, median of $REPS runs)"
echo
awk -F'\t' -v servers="${SERVERS[*]}" '
function median(key,    n, i, j, t, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : ""
}
function fmt(v, u) {
	if (v == "") return "-"
	if (u == "msg/s") return sprintf("%.0f", v)
	if (u == "us") return sprintf("%.0f us", v)
	if (u == "B") return sprintf("%.0f B", v)
	return sprintf("%.0f", v)
}
{
	key = $1 SUBSEP $2 SUBSEP $3
	val[key, ++cnt[key]] = $4
	if (!(($2 SUBSEP $3) in seen)) { seen[$2 SUBSEP $3] = 1; order[++nk] = $2 SUBSEP $3 }
	unit[$2 SUBSEP $3] = $5
}
END {
	ns = split(servers, S, " ")
	printf "| workload | metric |"
	for (i = 1; i <= ns; i++) printf " %s |", S[i]
	print " junction/mosquitto | junction/nats-server | junction-1w/mosquitto |"
	printf "|---|---|"
	for (i = 1; i <= ns; i++) printf "---|"
	print "---|---|---|"
	for (k = 1; k <= nk; k++) {
		split(order[k], wm, SUBSEP)
		printf "| %s | %s |", wm[1], wm[2]
		for (i = 1; i <= ns; i++) {
			m[S[i]] = median(S[i] SUBSEP order[k])
			printf " %s |", fmt(m[S[i]], unit[order[k]])
		}
		j = m["junction"]; j1 = m["junction-1w"]; mo = m["mosquitto"]; na = m["nats-server"]
		printf " %s | %s | %s |\n", (j != "" && mo > 0) ? sprintf("%.2f", j / mo) : "-",
		       (j != "" && na > 0) ? sprintf("%.2f", j / na) : "-",
		       (j1 != "" && mo > 0) ? sprintf("%.2f", j1 / mo) : "-"
	}
}' "$RAW"
echo
echo "throughput in delivered messages/s (all subscribers); latency and RSS: lower is better"
if grep -q "	lost	" "$RAW" && awk -F'\t' '$3 == "lost" && $4 > 0 { f = 1 } END { exit !f }' "$RAW"; then
	echo "some runs lost messages (the lost rows above)"
fi
