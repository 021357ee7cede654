#!/usr/bin/env bash
# Nacos 2.x gRPC naming throughput and push latency: nacre-server beside r-nacos and, for
# register and query, the trivial tonic server (benches/tools/grpc_baseline.rs, fixed answers:
# the floor of the stack), in the same run, on loopback, with the same load generator
# (benches/tools/grpc_load.rs, which speaks the raw protocol). A fresh server for each
# operation; every load is bounded in time or count.
#
#   bash benches/grpc/run.sh            # DURATION=5 CONNS=4 INFLIGHT=32 SUBSCRIBERS=1000 CHANGES=10
#   OPS="push-10k push-1000x10" bash benches/grpc/run.sh   # only the push-at-scale cases
#
# Register, query and subscribe also print the server's CPU time per request (/proc/PID/stat).
# The push cases: `push` (SUBSCRIBERS connections on one service), `push-10k` (10,000 on one
# service) and `push-1000x10` (1,000 services of 10 subscribers each; every round changes all
# 1,000), each with the server's RSS per subscribed connection; `idle-10k` opens 10,000 set-up
# connections that subscribe to nothing and prints the RSS per idle connection.
# r-nacos: `cargo install rnacos --root ~/.cache/nacre/rnacos` (about 10 minutes); it is looked
# for in $RNACOS, on the PATH, then there. Without it, only nacre is measured. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${DURATION:-5}
conns=${CONNS:-4}
inflight=${INFLIGHT:-32}
subscribers=${SUBSCRIBERS:-1000}
changes=${CHANGES:-10}
rnacos=${RNACOS:-$(command -v rnacos || true)}
if [[ -z "$rnacos" && -x "$HOME/.cache/nacre/rnacos/bin/rnacos" ]]; then
    rnacos="$HOME/.cache/nacre/rnacos/bin/rnacos"
fi

cargo build --release --all-features --bin nacre-server
source tests/interop/lib.sh
source benches/support/tool.sh
nacre_bin="$(target_dir)/release/nacre-server"
load=$(bench_tool grpc_load --all-features)
baseline_bin=$(bench_tool grpc_baseline --all-features)
ulimit -n 65536 2>/dev/null || true

wait_port() {
    for _ in $(seq 200); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

source benches/servers.sh

start() { # name port
    launch "$1" "$2"
    wait_port $(($2 + 1000))
    sleep 0.5
}

# The trivial server's query answer: nacre's service info for the instances grpc_load registers
# (10.0.0.1 to 10.0.0.10, port 8080), taken over HTTP.
info_port=$(port_pair)
start nacre "$info_port"
for n in $(seq 10); do
    curl -sf -X POST "http://127.0.0.1:$info_port/nacos/v1/ns/instance?serviceName=query-bench&ip=10.0.0.$n&port=8080" >/dev/null
done
curl -sf "http://127.0.0.1:$info_port/nacos/v1/ns/instance/list?serviceName=query-bench" >"$work/service-info.json"
stop nacre >/dev/null

servers=(nacre baseline)
if [[ -n "$rnacos" && -x "$rnacos" ]]; then servers+=(r-nacos); else echo "r-nacos not found: measuring nacre and the trivial server only"; fi
ops=${OPS:-register query subscribe push idle-10k push-10k push-1000x10}
for server in "${servers[@]}"; do
    for op in $ops; do
        [[ "$server" == baseline && "$op" == push* ]] && continue
        port=$(port_pair)
        if [[ "$server" == baseline ]]; then
            "$baseline_bin" "$((port + 1000))" "$work/service-info.json" >"$work/baseline.log" 2>&1 &
            pid=$!
            wait_port $((port + 1000))
        else
            start "$server" "$port"
        fi
        echo "---- $server $op"
        case "$op" in
            push) SERVER_PID=$pid "$load" "127.0.0.1:$((port + 1000))" push "$subscribers" "$changes" ;;
            push-10k) SERVER_PID=$pid GAP_MS=2000 "$load" "127.0.0.1:$((port + 1000))" push 10000 "$changes" ;;
            idle-10k) SERVER_PID=$pid "$load" "127.0.0.1:$((port + 1000))" idle 10000 ;;
            push-1000x10) SERVER_PID=$pid GAP_MS=2000 "$load" "127.0.0.1:$((port + 1000))" push 10000 "$changes" 1000 ;;
            *)
                before=$(cpu_ticks "$pid")
                out=$("$load" "127.0.0.1:$((port + 1000))" "$op" "$duration" "$conns" "$inflight")
                after=$(cpu_ticks "$pid")
                echo "$out"
                done=$(echo "$out" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "ok,") print $i }')
                echo "    server CPU: $(cpu_per_request "$before" "$after" "${done:-0}") µs per request"
                ;;
        esac
        stop "$server"
    done
done
