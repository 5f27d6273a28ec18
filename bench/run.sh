#!/usr/bin/env bash
# bench/run.sh - Junction and nats-server side by side, in one run.
#
# Starts both servers on free loopback ports, runs every jn_bench workload
# against each (alternating which goes first, REPS times), takes the median
# per metric and prints one table:
#     workload | metric | nats-server | junction | junction/nats-server
# The table is also written to bench/results/<date>.md with the raw numbers
# beside it (<date>.tsv). Both servers are stopped on every exit path.
#
# Then the JetStream section: nats-server with -js (its default: PubAck after
# the page cache, fsync every 2 min), Junction's durable default (PubAck after
# the group-commit fsync), Junction with "sync": "interval", and nats-server
# with `jetstream { sync_interval: always }` when that nats-server accepts it
# (2.9.10 does not: the report says so). Each gets a fresh store directory
# every repetition; a second table compares them.
#
#   bash bench/run.sh           core workloads, then JetStream workloads
#   bash bench/run.sh --js      JetStream workloads only (= JN_BENCH_ONLY=js)
#   bash bench/run.sh --core    core workloads only      (= JN_BENCH_ONLY=core)
#   bash bench/run.sh --kv      Key/Value workloads only (= JN_BENCH_ONLY=kv): libnats
#                               kvStore put/get, 1 and 8 clients, same servers as --js
#
# Environment (all optional):
#   JN_BUILD_DIR        build directory with bench/jn_bench and gateway/junction (build)
#   JUNCTION_BIN        junction binary            (default $JN_BUILD_DIR/gateway/junction)
#   NATS_SERVER_BIN     nats-server binary         (default: nats-server on PATH)
#   JUNCTION_CONF       "auto" (default): a temp config moving MQTT/HTTP to free
#                       loopback ports and the store to a temp dir; "none": no -c
#                       (use when JUNCTION_BIN is another nats-server, to test this script)
#   JN_BENCH_REPS       repetitions per workload and server (3)
#   JN_BENCH_SECS       time cap of each sending phase in seconds (3)
#   JN_BENCH_WORKLOADS  space-separated subset of workload names (all)
#   JN_BENCH_RESULTS    directory for the report (bench/results)
#   JN_BENCH_TSV        run nothing: render the table from an earlier <date>.tsv
#   JN_BENCH_ONLY       all (default), core, js or kv
#   NATS_ALWAYS_BIN     nats-server for the `sync_interval: always` column
#                       (default NATS_SERVER_BIN; skipped if it rejects the option)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath -m "${JN_BUILD_DIR:-$ROOT/build}")
JN_BENCH=$BUILD/bench/jn_bench
JUNCTION=${JUNCTION_BIN:-$BUILD/gateway/junction}
NATS=${NATS_SERVER_BIN:-$(command -v nats-server || command -v /usr/sbin/nats-server || true)}
JCONF_MODE=${JUNCTION_CONF:-auto}
REPS=${JN_BENCH_REPS:-3}
SECS=${JN_BENCH_SECS:-3}
RESULTS=${JN_BENCH_RESULTS:-$ROOT/bench/results}
STAMP=$(date -u +%Y-%m-%d_%H%M)
ONLY=${JN_BENCH_ONLY:-all}
for a in "$@"; do
	case $a in
	--js) ONLY=js ;;
	--core) ONLY=core ;;
	--kv) ONLY=kv ;;
	-h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument $a (try --help)" >&2; exit 2 ;;
	esac
done
[[ $ONLY == all || $ONLY == core || $ONLY == js || $ONLY == kv ]] || { echo "bench: JN_BENCH_ONLY must be all, core, js or kv" >&2; exit 2; }
NATS_ALWAYS=${NATS_ALWAYS_BIN:-}

# name|jn_bench arguments (PID is replaced by the server's pid)[|extra runs[|pair]]
# Tail latency is the most sensitive to other load on the shared cores, so the
# latency workloads get two more runs than the rest, and are "pair" workloads:
# one jn_bench run measures both servers, alternating request by request, so a
# burst of someone else's load hits both alike.
ALL_WORKLOADS=(
	"idle-conns|idle -c 5000 -p PID"
	"pubsub-16B|pubsub -s 16"
	"pubsub-128B|pubsub -s 128"
	"pubsub-1024B|pubsub -s 1024"
	"fanout|fanout -s 128 -S 100"
	"queue|queue -s 128 -S 4"
	"reqrep-latency|reqlat -s 128|2|pair"
	"reqrep-latency-libnats|reqlat -s 128 --libnats|2|pair"
	"reqrep-throughput|reqtput -s 128 -T 8"
)

# JetStream: name|jn_bench arguments. Each run creates its own stream, checks
# the stream holds exactly what was acknowledged, and deletes it. 128 B
# payloads; the publishers stop at the time cap, the fetch when the 200,000
# prefilled messages are consumed or at the time cap.
JS_WORKLOADS=(
	"js-pub-sync-file|jspub -s 128"
	"js-pub-sync-memory|jspub -s 128 --memory"
	"js-pub-async-file|jspub -s 128 --async --window 4096"
	"js-pub-async-memory|jspub -s 128 --async --memory --window 4096"
	"js-fetch-file|jsfetch -s 128 -n 200000 --batch 256"
)

# Key/Value (--kv only): libnats kvStore round trips, one client and 8
# concurrent clients (each its own connection), 128 B values, file bucket
# with history 1; run against the JetStream servers above.
KV_WORKLOADS=(
	"kv-put-1|kvput -s 128 -T 1"
	"kv-put-8|kvput -s 128 -T 8"
	"kv-get-1|kvget -s 128 -T 1"
	"kv-get-8|kvget -s 128 -T 8"
)

die() { echo "bench: $*" >&2; exit 2; }

[[ -x $JN_BENCH ]] || die "no $JN_BENCH; build it: cmake --build $BUILD --target jn_bench junction"
[[ -x $JUNCTION ]] || die "no junction binary at $JUNCTION (set JUNCTION_BIN or build target junction)"
[[ -n $NATS && -x $NATS ]] || die "nats-server not found (apt-get install nats-server, or set NATS_SERVER_BIN)"
NATS_ALWAYS=${NATS_ALWAYS:-$NATS}

TMP=$(mktemp -d /tmp/jn-bench.XXXXXX)
declare -A PID PORT
SERVERS=(nats-server junction)
# JetStream servers: the baseline (nats-server's default) first. The
# sync_interval=always one is added after probing that nats-server accepts it.
JS_SERVERS=(nats-server-js junction-js junction-js-interval)
ALWAYS_NOTE=""
FAILED=0

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
	for _ in $(seq 100); do
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
	# Both servers get the same fd limit: 5,000 idle connections need it.
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	case $s in
	nats-server)
		"$NATS" -a 127.0.0.1 -p "$port" >>"$TMP/nats-server.log" 2>&1 &
		;;
	junction)
		local args=()
		if [[ $JCONF_MODE == auto ]]; then
			mkdir -p "$TMP/store"
			printf '{\n  "store_dir": "%s",\n  "mqtt": { "host": "127.0.0.1", "port": %d },\n  "http": { "host": "127.0.0.1", "port": %d }\n}\n' \
				"$TMP/store" "$(free_port)" "$(free_port)" >"$TMP/junction.json"
			args=(-c "$TMP/junction.json")
		fi
		"$JUNCTION" "${args[@]}" -a 127.0.0.1 -p "$port" >>"$TMP/junction.log" 2>&1 &
		;;
	# JetStream servers: a fresh store directory each start, all under $TMP
	# (one filesystem for all of them).
	nats-server-js)
		rm -rf "$TMP/store-$s" && mkdir -p "$TMP/store-$s"
		"$NATS" -a 127.0.0.1 -p "$port" -js -sd "$TMP/store-$s" >>"$TMP/$s.log" 2>&1 &
		;;
	nats-server-js-always)
		rm -rf "$TMP/store-$s" && mkdir -p "$TMP/store-$s"
		nats_always_conf "$port" "$TMP/store-$s" >"$TMP/$s.conf"
		"$NATS_ALWAYS" -c "$TMP/$s.conf" >>"$TMP/$s.log" 2>&1 &
		;;
	junction-js | junction-js-interval)
		rm -rf "$TMP/store-$s" && mkdir -p "$TMP/store-$s"
		local args=(-js -sd "$TMP/store-$s")   # JUNCTION_CONF=none: JUNCTION_BIN is a nats-server
		if [[ $JCONF_MODE == auto ]]; then
			# junction-js keeps the default jetstream section: durable.
			local js=''
			[[ $s == junction-js-interval ]] && js=',\n  "jetstream": { "sync": "interval", "sync_interval": "2m" }'
			printf '{\n  "store_dir": "%s",\n  "mqtt": { "host": "127.0.0.1", "port": %d },\n  "http": { "host": "127.0.0.1", "port": %d }'"$js"'\n}\n' \
				"$TMP/store-$s" "$(free_port)" "$(free_port)" >"$TMP/$s.json"
			args=(-c "$TMP/$s.json")
		fi
		"$JUNCTION" "${args[@]}" -a 127.0.0.1 -p "$port" >>"$TMP/$s.log" 2>&1 &
		;;
	esac
	PID[$s]=$!
	if ! wait_listening "$port" "${PID[$s]}"; then
		echo "bench: $s did not start on 127.0.0.1:$port; its log:" >&2
		tail -n 20 "$TMP/$s.log" >&2
		stop_server "$s"
		return 1
	fi
}

nats_always_conf() {   # port store-dir
	printf 'listen: "127.0.0.1:%d"\njetstream {\n  store_dir: "%s"\n  sync_interval: always\n}\n' "$1" "$2"
}

# Adds nats-server-js-always to JS_SERVERS if that nats-server accepts the
# option; otherwise leaves a note for the report. Never pretends: without the
# option there is no column.
probe_always() {
	local out
	out=$("$NATS_ALWAYS" -c <(nats_always_conf "$(free_port)" "$TMP/probe") -t 2>&1)
	if [[ $? -eq 0 ]]; then
		JS_SERVERS+=(nats-server-js-always)
	else
		ALWAYS_NOTE="$("$NATS_ALWAYS" --version 2>&1 | head -n 1 | sed 's/: / /') rejects \`jetstream { sync_interval: always }\` ($(printf '%s' "$out" | head -n 1 | sed -E 's/^.*:[0-9]+:[0-9]+: //')); set NATS_ALWAYS_BIN to a nats-server that has the option"
		echo "bench: $ALWAYS_NOTE" >&2
	fi
	rm -rf "$TMP/probe"
}

ensure_server() {
	local s=$1
	if [[ -n ${PID[$s]:-} ]] && kill -0 "${PID[$s]}" 2>/dev/null; then
		return 0
	fi
	if [[ -n ${PID[$s]:-} ]]; then
		echo "bench: $s (pid ${PID[$s]}) died; last lines of its log:" >&2
		tail -n 20 "$TMP/$s.log" >&2
		wait "${PID[$s]}" 2>/dev/null
		PID[$s]=
	fi
	start_server "$s"
}

# run_one server rep name args...
run_one() {
	local s=$1 rep=$2 name=$3
	shift 3
	if ! ensure_server "$s"; then
		printf '%s\t%s\t%s\tFAIL\t\t\t\t\n' "$s" "$rep" "$name" >>"$TMP/results.tsv"
		FAILED=1
		return
	fi
	local args=("${@//PID/${PID[$s]}}")
	echo "[$name] rep $rep: $s" >&2
	local out rc
	out=$(timeout 120 "$JN_BENCH" -u "nats://127.0.0.1:${PORT[$s]}" -N "$name" -t "$SECS" "${args[@]}")
	rc=$?
	record "$s" "$rep" "$name" "$rc" "$out"
}

# record server rep name exit-code output: RESULT lines into results.tsv; a
# seventh field (paired runs) names the server instead of $1.
record() {
	printf '%s\n' "$5" | awk -v s="$1" -v r="$2" -F'\t' 'BEGIN { OFS = "\t" }
		$1 == "RESULT" { print (NF >= 7 ? $7 : s), r, $2, $3, $4, $5, $6 }' >>"$TMP/results.tsv"
	if [[ $4 -ne 0 ]]; then
		echo "bench: $3 against $1 failed (exit $4)" >&2
		for x in ${1/+/ }; do
			printf '%s\t%s\t%s\tFAIL\t\t\t\t\n' "$x" "$2" "$3" >>"$TMP/results.tsv"
		done
		FAILED=1
	fi
}

# run_pair rep first second name args...: one run measuring both servers.
run_pair() {
	local rep=$1 a=$2 b=$3 name=$4
	shift 4
	if ! ensure_server "$a" || ! ensure_server "$b"; then
		record "$a+$b" "$rep" "$name" 1 ""
		return
	fi
	echo "[$name] rep $rep: $a and $b, alternating" >&2
	local out rc
	out=$(timeout 120 "$JN_BENCH" -u "nats://127.0.0.1:${PORT[$a]}" -N "$name" -t "$SECS" "$@" \
		--pair "nats://127.0.0.1:${PORT[$b]}" --labels "$a,$b")
	rc=$?
	record "$a+$b" "$rep" "$name" "$rc" "$out"
}

selected() {
	[[ -z ${JN_BENCH_WORKLOADS:-} ]] && return 0
	[[ " $JN_BENCH_WORKLOADS " == *" $1 "* ]]
}

: >"$TMP/results.tsv"
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MAXREP=$((REPS + 2))
JS_REPS=$REPS
if [[ -n ${JN_BENCH_TSV:-} ]]; then
	# Only render the table again from the raw runs of an earlier report.
	cp "$JN_BENCH_TSV" "$TMP/results.tsv" || die "cannot read $JN_BENCH_TSV"
	MAXREP=0
	JS_REPS=0
fi
[[ $ONLY == js || $ONLY == kv ]] && MAXREP=0
[[ $ONLY == kv ]] && JS_WORKLOADS=("${KV_WORKLOADS[@]}")
[[ $ONLY == core ]] && JS_REPS=0
for ((rep = 1; rep <= MAXREP; rep++)); do
	# Fresh servers each repetition, so idle-conns (first) measures an unused heap.
	for s in "${SERVERS[@]}"; do stop_server "$s"; start_server "$s" || FAILED=1; done
	i=0
	for w in "${ALL_WORKLOADS[@]}"; do
		IFS='|' read -r name argstr extra mode <<<"$w"
		read -r -a args <<<"$argstr"
		selected "$name" || continue
		((rep <= REPS + ${extra:-0})) || continue
		# Alternate who goes first: by repetition and by workload.
		if (((rep + i) % 2)); then order=(nats-server junction); else order=(junction nats-server); fi
		if [[ ${mode:-} == pair ]]; then
			run_pair "$rep" "${order[0]}" "${order[1]}" "$name" "${args[@]}"
		else
			for s in "${order[@]}"; do run_one "$s" "$rep" "$name" "${args[@]}"; done
		fi
		i=$((i + 1))
	done
done
for s in "${SERVERS[@]}"; do stop_server "$s"; done
CORE_ELAPSED=$(($(date +%s) - START))

# JetStream section: the servers of JS_SERVERS, every workload against each,
# the order rotating by repetition and workload.
if ((JS_REPS > 0)); then
	probe_always
fi
for ((rep = 1; rep <= JS_REPS; rep++)); do
	# Fresh servers and empty store directories each repetition.
	for s in "${JS_SERVERS[@]}"; do stop_server "$s"; start_server "$s" || FAILED=1; done
	i=0
	for w in "${JS_WORKLOADS[@]}"; do
		IFS='|' read -r name argstr <<<"$w"
		read -r -a args <<<"$argstr"
		selected "$name" || continue
		n=${#JS_SERVERS[@]}
		for ((k = 0; k < n; k++)); do
			s=${JS_SERVERS[$(((rep + i + k) % n))]}
			# Write back everyone's dirty pages first: an ext4 fsync commits
			# the journal with other files' pending data, so the previous
			# server's unsynced writes would slow this server's fsyncs.
			sync -f "$TMP"
			run_one "$s" "$rep" "$name" "${args[@]}"
		done
		i=$((i + 1))
	done
done
for s in "${JS_SERVERS[@]}"; do stop_server "$s"; done
ELAPSED=$(($(date +%s) - START))
JS_ELAPSED=$((ELAPSED - CORE_ELAPSED))

NATS_VER=$("$NATS" --version 2>&1 | head -n 1)
JN_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
STORE_FS=$(findmnt -n -o FSTYPE,SOURCE --target "$TMP" 2>/dev/null | tr -s ' ' || stat -f -c %T "$TMP")

# Helpers shared by both tables' awk programs. Input: results.tsv rows
# server, rep, workload, metric, value, unit, better (value FAIL: a failed run).
AWK_LIB='
	function fmt(v, u) {
		if (v == "") return "FAIL"
		if (u == "msgs/s" || u == "reqs/s" || u == "ops/s" || u == "conns/s" || u == "bytes" || u == "KiB" || u == "msgs" || u == "reqs")
			return sprintf("%.0f %s", v, u)
		return sprintf("%.1f %s", v, u)
	}
	# Sets lo/hi to the smallest and largest run as a side effect.
	function median(key,    n, i, j, t, a) {
		n = cnt[key]
		if (n == 0) return ""
		for (i = 1; i <= n; i++) a[i] = val[key, i] + 0
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		lo = a[1]; hi = a[n]
		if (n % 2) return a[(n + 1) / 2]
		return (a[n / 2] + a[n / 2 + 1]) / 2
	}
	# "±x%": half the range of the runs around the median, so noise is visible.
	function spread(m) {
		if (m == "" || m + 0 == 0 || hi == lo) return ""
		return sprintf(" ±%.0f%%", 50 * (hi - lo) / m)
	}
	function collect() {
		if ($4 == "FAIL") {
			fail[$1, $3] = 1
			if (!(($3) in fseen)) { fseen[$3] = 1; forder[++nfw] = $3 }
			return
		}
		k = $3 SUBSEP $4
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k; unit[k] = $6; better[k] = $7 }
		measured[$3] = 1
		key = $1 SUBSEP k
		val[key, ++cnt[key]] = $5
		byrep[$1, k, $2] = $5
		if ($2 + 0 > maxrep) maxrep = $2 + 0
	}
	function betterness(k) {
		return better[k] == "higher" ? "higher is better" : better[k] == "lower" ? "lower is better" : "info"
	}
	# Verdict from the runs taken side by side (same repetition, close in
	# time; paired runs even interleaved): the median of cand/base run by
	# run, which background load disturbs less than two separate medians.
	# med[server, k] must hold the medians.
	function target(k, label, dir, base, cand, bname, cname,    n, j, r, a, b, runs, wins, q, i, x, t, pr, ok, noise) {
		n = med[base, k]; j = med[cand, k]
		if (n == "" || j == "") { printf "- %s: not measured\n", label; return }
		runs = wins = 0
		for (r = 1; r <= maxrep; r++) {
			if (!((base, k, r) in byrep) || !((cand, k, r) in byrep)) continue
			a = byrep[cand, k, r] + 0; b = byrep[base, k, r] + 0
			if (b == 0) continue
			q[++runs] = a / b
			if (dir > 0 ? a >= b : a <= b) wins++
		}
		if (runs == 0) { printf "- %s: not measured\n", label; return }
		for (i = 2; i <= runs; i++) { t = q[i]; for (x = i - 1; x >= 1 && q[x] > t; x--) q[x + 1] = q[x]; q[x + 1] = t }
		pr = runs % 2 ? q[(runs + 1) / 2] : (q[runs / 2] + q[runs / 2 + 1]) / 2
		ok = dir > 0 ? pr >= 1 : pr <= 1
		noise = (wins > 0 && wins < runs) ? "; not in every run, so within noise" : ""
		printf "- %s: %s (run-by-run ratio %.2f, %s ahead in %d of %d runs%s; medians: %s %s vs %s %s %s)\n",
			label, ok ? "MET" : "MISSED", pr, cname, wins, runs, noise, cname, num(j), bname, num(n), unit[k]
	}
	function num(v) {
		return v + 0 >= 1000 ? sprintf("%.0f", v) : sprintf("%.1f", v)
	}
'

core_table() {
	echo "## Core NATS"
	echo
	echo "- servers: $NATS_VER (Debian, JetStream off) vs junction $JN_REV (default config; its JetStream is on but unused here), both on 127.0.0.1"
	echo "- each value is the median of $REPS runs ($((REPS + 2)) for latency), ±x% is half the range of the runs; ratio = junction / nats-server"
	echo
	echo "| workload | metric | nats-server | junction | ratio | better |"
	echo "|---|---|---:|---:|---:|---|"
	awk -F'\t' "$AWK_LIB"'
	$1 != "nats-server" && $1 != "junction" { next }   # the JetStream servers have their own table
	{ collect() }
	END {
		for (o = 1; o <= nk; o++) {
			k = order[o]; split(k, p, SUBSEP)
			n = median("nats-server" SUBSEP k); nf = fmt(n, unit[k]) spread(n)
			j = median("junction" SUBSEP k); jf = fmt(j, unit[k]) spread(j)
			r = "-"
			if (n != "" && j != "" && n + 0 != 0) r = sprintf("%.2f", j / n)
			if (fail["nats-server", p[1]]) nf = nf " (a run failed)"
			if (fail["junction", p[1]]) jf = jf " (a run failed)"
			printf "| %s | %s | %s | %s | %s | %s |\n", p[1], p[2], nf, jf, r, betterness(k)
			med["nats-server", k] = n; med["junction", k] = j
		}
		# Workloads that never produced a number still get a row.
		for (o = 1; o <= nfw; o++)
			if (!(forder[o] in measured))
				printf "| %s | (every run failed) | %s | %s | - | - |\n", forder[o],
					fail["nats-server", forder[o]] ? "FAIL" : "-", fail["junction", forder[o]] ? "FAIL" : "-"
		print ""
		print "Targets (issue): pub/sub 128 B msgs/s >= nats-server; req/rep p99 <= nats-server; RSS per idle connection <= nats-server."
		print ""
		target("pubsub-128B" SUBSEP "subscriber msgs/s", "pub/sub 128 B subscriber msgs/s", 1, "nats-server", "junction", "nats-server", "junction")
		target("reqrep-latency" SUBSEP "p99 latency", "req/rep p99 latency", -1, "nats-server", "junction", "nats-server", "junction")
		target("idle-conns" SUBSEP "RSS per idle conn", "RSS per idle connection", -1, "nats-server", "junction", "nats-server", "junction")
	}' "$TMP/results.tsv"
}

js_table() {
	local always=0
	grep -q '^nats-server-js-always	' "$TMP/results.tsv" && always=1
	echo "## JetStream"
	echo
	echo "- nats-server (default): ${NATS_VER/: / }, \`-js -sd DIR\`: PubAck once the message is written (page cache), fsync every 2 min"
	echo "- junction (durable): default config: PubAck only after the group-commit fsync that covers the message"
	echo "- junction (interval): \`\"jetstream\": { \"sync\": \"interval\", \"sync_interval\": \"2m\" }\`, nats-server's behaviour"
	if ((always)); then
		echo "- nats-server (sync always): $("$NATS_ALWAYS" --version 2>&1 | head -n 1), \`jetstream { sync_interval: always }\`"
	elif [[ -n $ALWAYS_NOTE ]]; then
		echo "- nats-server (sync always): not measured: $ALWAYS_NOTE"
	else
		echo "- nats-server (sync always): not measured"
	fi
	echo "- store directories: a fresh one per server and repetition under $TMP ($STORE_FS), \`sync -f\` before every run; 128 B payloads; async window 4096 PubAcks; fetch: 200,000 prefilled messages, batches of 256, natsMsg_Ack on each"
	echo "- each value is the median of $REPS runs, ±x% is half the range; ratios are junction (durable) / the column before them, except \"interval / ns\" = junction (interval) / nats-server (default)"
	echo
	echo "| workload | metric | nats-server (default) | junction (durable) | ratio | junction (interval) | interval / ns | nats-server (sync always) | durable / always | better |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
	awk -F'\t' -v always="$always" "$AWK_LIB"'
	$1 !~ /-js/ { next }   # the core servers have their own table
	{ collect() }
	function cell(s, k, w,    m, f) {
		m = median(s SUBSEP k); f = fmt(m, unit[k]) spread(m)
		if (fail[s, w]) f = f " (a run failed)"
		med[s, k] = m
		return f
	}
	function ratio(a, b) {
		return (a != "" && b != "" && b + 0 != 0) ? sprintf("%.2f", a / b) : "-"
	}
	END {
		B = "nats-server-js"; J = "junction-js"; I = "junction-js-interval"; A = "nats-server-js-always"
		for (o = 1; o <= nk; o++) {
			k = order[o]; split(k, p, SUBSEP)
			bf = cell(B, k, p[1]); jf = cell(J, k, p[1]); jif = cell(I, k, p[1])
			af = always ? cell(A, k, p[1]) : "n/a"
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], bf, jf,
				ratio(med[J, k], med[B, k]), jif, ratio(med[I, k], med[B, k]), af,
				always ? ratio(med[J, k], med[A, k]) : "-", betterness(k)
		}
		for (o = 1; o <= nfw; o++)
			if (!(forder[o] in measured))
				printf "| %s | (every run failed) | %s | %s | - | %s | - | %s | - | - |\n", forder[o],
					fail[B, forder[o]] ? "FAIL" : "-", fail[J, forder[o]] ? "FAIL" : "-",
					fail[I, forder[o]] ? "FAIL" : "-", fail[A, forder[o]] ? "FAIL" : "-"
		if (("kv-put-1" SUBSEP "put ops/s") in seen || ("kv-get-1" SUBSEP "get ops/s") in seen) {
			print ""
			print "Targets (KV issue): put and get ops/s >= nats-server (default). A durable put waits for its fsync; interval gives the guarantee nats-server gives."
			print ""
			for (c = 1; c <= 8; c += 7) {
				target("kv-put-" c SUBSEP "put ops/s", "KV put, " c " client(s), durable", 1, B, J, "nats-server (default)", "junction (durable)")
				target("kv-put-" c SUBSEP "put ops/s", "KV put, " c " client(s), interval", 1, B, I, "nats-server (default)", "junction (interval)")
				target("kv-get-" c SUBSEP "get ops/s", "KV get, " c " client(s)", 1, B, J, "nats-server (default)", "junction (durable)")
			}
		}
		if (!(("js-pub-async-file" SUBSEP "acked msgs/s") in seen)) exit
		print ""
		print "Targets (issue): async file publish and pull fetch msgs/s >= nats-server (default), even with junction durable."
		print ""
		target("js-pub-async-file" SUBSEP "acked msgs/s", "async publish, file, acked msgs/s", 1, B, J, "nats-server (default)", "junction (durable)")
		target("js-fetch-file" SUBSEP "fetched+acked msgs/s", "pull fetch+ack msgs/s", 1, B, J, "nats-server (default)", "junction (durable)")
		if (always) {
			print ""
			print "Durable against durable (no target): junction (durable) vs nats-server with sync_interval always."
			print ""
			target("js-pub-sync-file" SUBSEP "acked msgs/s", "sync publish, file, acked msgs/s", 1, A, J, "nats-server (sync always)", "junction (durable)")
			target("js-pub-async-file" SUBSEP "acked msgs/s", "async publish, file, acked msgs/s", 1, A, J, "nats-server (sync always)", "junction (durable)")
		}
	}' "$TMP/results.tsv"
}

report() {
	echo "# Junction vs nats-server, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	if [[ -n ${JN_BENCH_TSV:-} ]]; then
		echo "- re-rendered from $JN_BENCH_TSV; the lines below describe this machine now, not that run"
	fi
	local cmd="bash bench/run.sh"
	[[ $ONLY != all ]] && cmd+=" --$ONLY"
	echo "- command: \`$cmd\` (JN_BUILD_DIR=$BUILD, JN_BENCH_REPS=$REPS, JN_BENCH_SECS=$SECS), ${ELAPSED}s (core ${CORE_ELAPSED}s, JetStream ${JS_ELAPSED}s)"
	echo "- machine: $(nproc) cores ($CPU), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);" \
		"client and servers SHARE these cores, nothing is pinned; only one server is loaded at a time"
	echo "- load average before / after: $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg) (anything above ~0 before means other processes shared the cores)"
	if grep -qE '^(nats-server|junction)	' "$TMP/results.tsv"; then
		echo
		core_table
	fi
	if grep -q '^[^	]*-js[^	]*	' "$TMP/results.tsv"; then
		echo
		js_table
	fi
}

mkdir -p "$RESULTS"
report | tee "$RESULTS/$STAMP.md"
cp "$TMP/results.tsv" "$RESULTS/$STAMP.tsv"
echo
echo "(written to $RESULTS/$STAMP.md, raw runs in $STAMP.tsv)"
if ((FAILED)); then
	echo "bench: some runs failed; see messages above" >&2
	exit 1
fi
