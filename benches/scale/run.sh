#!/usr/bin/env bash
# Issue 13, target 5 (scale) with real processes: 5 nacre-server processes on loopback forming a
# cluster (shared secret), loaded with $INSTANCES instances
# ($PER per service) by benches/tools/scale_load.rs over the v1 HTTP API, under a steady beat load.
#
# Reports: each member's RSS when idle and empty (the baseline, same run), after every member
# holds all instances, and RSS per instance net of the idle baseline; peer messages per second
# (the peer route's request counts from GET /metrics) and peer bytes per second (ss's byte
# counters of the TCP connections members opened to each other: HTTP requests and answers,
# headers included; a connection opened and closed within the window is missed) and each
# process's CPU over a $WINDOW s window; then member 3 is
# killed with SIGKILL and started again empty under the same id, timed until it is ready and
# until it holds every instance again.
#
# Beats: every instance beats every $BEAT_SECS s (default 30 s; Nacos' 5 s would be 40 000
# beats/s at 200k instances, more than this 2-core machine serves beside the five servers), so
# the instances carry the Nacos metadata preserved.heart.beat.interval/timeout and
# preserved.ip.delete.timeout ($BEAT_SECS s, 3x and 6x that) to stay healthy between beats. Set
# METADATA=- to register without metadata (then the instances must beat at most every 15 s).
#
#   bash benches/scale/run.sh                     # 200 000 instances, 20 000 services
#   INSTANCES=20000 WINDOW=10 bash benches/scale/run.sh
#   SERVER=/tmp/nacre-server-old bash benches/scale/run.sh   # another build of the server
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/interop/lib.sh

INSTANCES=${INSTANCES:-200000}
PER=${PER:-10}
SERVICES=$((INSTANCES / PER))
BEAT_SECS=${BEAT_SECS:-30}
WINDOW=${WINDOW:-30}
NODES=5
if [[ -z "${METADATA:-}" ]]; then
    METADATA="{\"preserved.heart.beat.interval\":\"$((BEAT_SECS * 1000))\",\"preserved.heart.beat.timeout\":\"$((BEAT_SECS * 3000))\",\"preserved.ip.delete.timeout\":\"$((BEAT_SECS * 6000))\"}"
fi

source benches/support/tool.sh
load=$(bench_tool scale_load --quiet --all-features)
target=$(target_dir)
# SERVER=/path/to/nacre-server measures another build (an older commit's, say) with this script.
if [[ -n "${SERVER:-}" ]]; then
    server=$SERVER
else
    cargo build --quiet --release --features server --bin nacre-server
    server="$target/release/nacre-server"
fi

work=$(mktemp -d)
declare -a pids=()
beat_pid=""
cleanup() {
    [[ -n "$beat_pid" ]] && kill "$beat_pid" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}" $beat_pid; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$work/secret"
declare -a ports=()
for i in $(seq 0 $((NODES - 1))); do
    ports[i]=$(free_port)
done
addrs=$(for i in $(seq 0 $((NODES - 1))); do printf '127.0.0.1:%s,' "${ports[i]}"; done)
addrs=${addrs%,}
members=$addrs

start() {
    local i=$1
    RUST_LOG=warn "$server" --port "${ports[i]}" --node-id "127.0.0.1:${ports[i]}" \
        --members "$members" --cluster-secret-file "$work/secret" >>"$work/node$i.log" 2>&1 &
    pids[i]=$!
}

# The value of metric $2 on member $1 (summed over its label sets), or nothing.
metric() {
    { curl -s --max-time 10 "http://127.0.0.1:${ports[$1]}/metrics" || true; } |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF; f = 1 } END { if (f) printf "%d\n", s }'
}
# Requests the peer route of member $1 answered (scraped up to 5 times; empty if all failed).
peer_requests() {
    local n
    for _ in 1 2 3 4 5; do
        n=$({ curl -s --max-time 10 "http://127.0.0.1:${ports[$1]}/metrics" || true; } |
            awk '/^http_server_requests_seconds_count/ && /nacre\/v1\/peer/ { s += $NF; f = 1 } END { if (f) printf "%d\n", s }')
        [[ -n "$n" ]] && break
    done
    echo "$n"
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# CPU time (user + system) of process $1 so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now() { date +%s.%N; }
# Waits until `$2` succeeds, polling every 0.1 s, for at most $1 seconds; prints the seconds taken.
wait_until() {
    local limit=$1 start
    shift
    start=$(now)
    until "$@"; do
        if (($(echo "$(now) - $start > $limit" | bc))); then
            echo "gave up after $limit s waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$(now) - $start" | bc
}
ready() { [[ "$(metric "$1" nacre_ready)" == 1 ]]; }
all_ready() { for i in $(seq 0 $((NODES - 1))); do ready "$i" || return 1; done; }
holds_all() { [[ "$(metric "$1" nacre_instances)" == "$INSTANCES" ]]; }
all_hold_all() { for i in $(seq 0 $((NODES - 1))); do holds_all "$i" || return 1; done; }
# Bytes (sent + received) on every established TCP connection a member opened to a member's
# port (peer requests and their answers, HTTP headers included, counted once, at the sender),
# as JSON {connection: bytes}.
peer_bytes() {
    ss -tinpH state established | python3 -c '
import json, re, sys
ports = set(sys.argv[1].split(","))
out = {}; conn = None
for line in sys.stdin:
    if not line.startswith((" ", "\t")):
        cols = line.split()
        ok = len(cols) >= 4 and cols[3].rsplit(":", 1)[-1] in ports and "nacre-server" in line
        conn = cols[2] + ">" + cols[3] if ok else None
        continue
    if conn:
        out[conn] = sum(int(m.group(1)) for m in re.finditer(r"bytes_(?:received|acked):(\d+)", line))
print(json.dumps(out))' "$(IFS=,; echo "${ports[*]}")"
}
# Bytes between two peer_bytes snapshots: growth of connections in both, all of new ones.
bytes_between() {
    python3 -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(sum(v - a.get(k, 0) if v >= a.get(k, 0) else v for k, v in b.items()))' "$1" "$2"
}

echo "$NODES nacre-server members on loopback, $INSTANCES instances in $SERVICES services, beats every $BEAT_SECS s"
echo "metadata: $METADATA"
for i in $(seq 0 $((NODES - 1))); do start "$i"; done
t=$(wait_until 60 all_ready)
echo "cluster ready in ${t} s"
sleep 2 # not a wait for a condition: lets the idle members' allocations settle before reading RSS
declare -a idle=()
for i in $(seq 0 $((NODES - 1))); do idle[i]=$(rss_kb "${pids[i]}"); done
echo "idle, empty RSS (kB): ${idle[*]}"

"$load" register "$addrs" "$SERVICES" "$PER" "$METADATA"
"$load" beat "$addrs" "$SERVICES" "$PER" "$METADATA" "$BEAT_SECS" 0 >"$work/beats.log" 2>&1 &
beat_pid=$!
t=$(wait_until 300 all_hold_all)
echo "every member holds $INSTANCES instances ${t} s after the registrations ended"

# Steady state: one window of peer traffic under the beat load.
declare -a req0=() req1=() cpu0=()
for i in $(seq 0 $((NODES - 1))); do
    req0[i]=$(peer_requests "$i")
    cpu0[i]=$(cpu_ticks "${pids[i]}")
done
load0=$(cpu_ticks "$beat_pid")
peer_bytes >"$work/ss0.json"
sleep "$WINDOW" # the measurement window itself
peer_bytes >"$work/ss1.json"
ticks=$(getconf CLK_TCK)
msgs=0
for i in $(seq 0 $((NODES - 1))); do
    req1[i]=$(peer_requests "$i")
    m=$((req1[i] - req0[i]))
    msgs=$((msgs + m))
    cpu=$(($(cpu_ticks "${pids[i]}") - cpu0[i]))
    echo "member $((i + 1)): peer requests received $(echo "scale=1; $m / $WINDOW" | bc)/s; CPU $(echo "scale=1; 100 * $cpu / $ticks / $WINDOW" | bc) % of one core"
done
echo "load generator CPU $(echo "scale=1; 100 * ($(cpu_ticks "$beat_pid") - $load0) / $ticks / $WINDOW" | bc) % of one core"
echo "steady state over $WINDOW s: $(echo "scale=1; $msgs / $WINDOW" | bc) peer requests/s, $(($(bytes_between "$work/ss0.json" "$work/ss1.json") / WINDOW)) peer bytes/s (both ways, HTTP included) in the whole cluster"
tail -n 2 "$work/beats.log"

total_net=0
for i in $(seq 0 $((NODES - 1))); do
    r=$(rss_kb "${pids[i]}")
    net=$(((r - idle[i]) * 1024))
    total_net=$((total_net + net))
    echo "member $((i + 1)): RSS $((r / 1024)) MB (idle $((idle[i] / 1024)) MB): $((net / INSTANCES)) B per instance net of idle, $((r * 1024 / INSTANCES)) B gross"
done
echo "mean RSS per instance net of the idle baseline: $((total_net / NODES / INSTANCES)) B (target: at most 300 B)"

# Restart: SIGKILL member 3, start it again empty under the same id.
victim=2
kill -9 "${pids[victim]}"
wait "${pids[victim]}" 2>/dev/null || true
killed=$(now)
start "$victim"
up=$(wait_until 120 ready "$victim")
full=$(wait_until 120 holds_all "$victim")
echo "member 3 killed (SIGKILL) and started again: ready after ${up} s, holding all $INSTANCES after $(echo "$(now) - $killed" | bc) s from the kill"
t=$(wait_until 120 all_hold_all)
r=$(rss_kb "${pids[victim]}")
echo "after the restart: every member holds $INSTANCES; member 3's RSS $((r / 1024)) MB = $(((r - idle[victim]) * 1024 / INSTANCES)) B per instance net of its first run's idle RSS"
tail -n 1 "$work/beats.log"
grep -h -E 'WARN|ERROR' "$work"/node*.log | cut -c1-200 | sort | uniq -c | sort -rn | head -5 || true
