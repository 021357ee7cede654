#!/usr/bin/env bash
# Loopback HTTP throughput of nacre-server (release build) with wrk, each figure beside a
# trivial axum server on the same routes answering fixed bodies of the same size
# (benches/tools/http_baseline.rs). Every wrk run is bounded in time (DURATION, default 5s).
# Needs wrk (apt-get install wrk). See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${DURATION:-5s}
threads=${THREADS:-1}
conns=${CONNS:-32}
list_size=${LIST_SIZE:-10}

cargo build --release --features server --bin nacre-server
source benches/support/tool.sh
baseline_bin=$(bench_tool http_baseline --features http,server)
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
    for _ in $(seq 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Starts a nacre-server; its address goes to $started (no subshell, so $pids keeps its pid).
start_nacre() {
    local port
    port=$(free_port)
    # The instances registered are on made-up addresses: no active health checks of them.
    "$target_dir/release/nacre-server" --port "$port" --probe-deny 0.0.0.0/0 2>>"$work/nacre.log" &
    pids+=($!)
    wait_port "$port"
    started="http://127.0.0.1:$port"
}

# Registrations get a server of their own: the instances they add turn unhealthy 15 s later
# and are evicted at 30 s, and those sweeps (one core for seconds) must not overlap the other
# runs.
start_nacre
register_server=$started
register_pid=${pids[-1]}
start_nacre
nacre=$started

# Fixtures: the instance the beats are for, and a service of $list_size persistent instances
# to list (persistent, so no health sweep changes them during the runs).
curl -sf -X POST "$nacre/nacos/v1/ns/instance?serviceName=beat-bench&ip=10.0.0.1&port=8080" >/dev/null
for i in $(seq "$list_size"); do
    curl -sf -X POST "$nacre/nacos/v1/ns/instance?serviceName=list-bench&ip=10.1.0.$i&port=8080&ephemeral=false&metadata=version%3D1.0" >/dev/null
done
list_path="/nacos/v1/ns/instance/list?serviceName=list-bench"
curl -sf "$nacre$list_path" >"$work/list.json"
echo "list answer: $(wc -c <"$work/list.json") bytes for $list_size instances"

base_port=$(free_port)
"$baseline_bin" "$base_port" "$work/list.json" 2>"$work/base.log" &
pids+=($!)
wait_port "$base_port"
baseline="http://127.0.0.1:$base_port"

run() {
    local label=$1 url=$2
    shift 2
    echo "---- $label: wrk -t$threads -c$conns -d$duration --latency $* $url"
    wrk -t"$threads" -c"$conns" -d"$duration" --latency "$@" "$url" |
        grep -E "Requests/sec|Latency |50%|90%|99%|requests in|Non-2xx|Socket errors"
}

# Each scenario runs against nacre and then the baseline, back to back, so both see the same
# machine load.
run "nacre register" "$register_server" -s benches/wrk/register.lua
kill "$register_pid"
run "baseline register" "$baseline" -s benches/wrk/register.lua
for target in nacre baseline; do
    run "$target beat (light)" "${!target}" -s benches/wrk/beat_light.lua
done
for target in nacre baseline; do
    run "$target beat (beat JSON)" "${!target}" -s benches/wrk/beat_json.lua
done
for target in nacre baseline; do
    run "$target list ($list_size instances)" "${!target}$list_path"
done
