#!/usr/bin/env bash
# CPU per request over the v1 HTTP API: for nacre-server, the trivial axum server on the same
# routes (benches/tools/http_baseline.rs, answering fixed bodies of the same size: the floor of
# the stack) and r-nacos, in one run. For each operation and server, a fresh server; wrk drives
# it for DURATION; the figures are requests per second and the server's own CPU time (user +
# system, from /proc/PID/stat) per request, which does not depend on wrk sharing the cores, and
# the server's RSS after the run.
#
# Operations: register (a new instance per request), beat (light: ip and port), beat (the
# `beat` JSON, as nacos-sdk-python sends it), list of 10 and of 100 persistent instances.
#
# r-nacos: `cargo install rnacos --root ~/.cache/nacre/rnacos` (about 10 minutes); it is
# looked for in $RNACOS, then on the PATH, then there. Needs wrk and curl (apt-get install wrk
# curl). Defaults: DURATION=10s THREADS=1 CONNS=32. OPS and SERVERS (`nacre baseline r-nacos`)
# pick a subset; NACRE_ARGS adds flags to nacre-server. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${DURATION:-10s}
threads=${THREADS:-1}
conns=${CONNS:-32}
rnacos=${RNACOS:-$(command -v rnacos || true)}
if [[ -z "$rnacos" && -x "$HOME/.cache/nacre/rnacos/bin/rnacos" ]]; then
    rnacos="$HOME/.cache/nacre/rnacos/bin/rnacos"
fi

source tests/interop/lib.sh
need_command wrk
need_command curl
cargo build --release --all-features --bin nacre-server
nacre_bin="$(target_dir)/release/nacre-server"
source benches/support/tool.sh
baseline_bin=$(bench_tool http_baseline --features http,server)
ulimit -n 65536 2>/dev/null || true
source benches/servers.sh

servers=(nacre baseline)
if [[ -n "${SERVERS:-}" ]]; then
    read -r -a servers <<<"$SERVERS"
elif [[ -n "$rnacos" && -x "$rnacos" ]]; then
    servers+=(r-nacos)
else
    echo "r-nacos not found: measuring nacre and the baseline only"
fi

wait_http() {
    for _ in $(seq 200); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/nacos/v1/ns/instance/list?serviceName=x"; then
            return 0
        fi
        sleep 0.05
    done
    echo "nothing answers on port $1" >&2
    return 1
}

# Registers the fixtures of operation $2 on the server at port $1.
fixtures() {
    local base="http://127.0.0.1:$1" op=$2 n
    case "$op" in
        beat-light | beat-json)
            curl -sf -X POST "$base/nacos/v1/ns/instance?serviceName=beat-bench&ip=10.0.0.1&port=8080" >/dev/null
            ;;
        list-*)
            n=${op#list-}
            for i in $(seq "$n"); do
                curl -sf -X POST "$base/nacos/v1/ns/instance?serviceName=list-bench&ip=10.1.0.$i&port=8080&ephemeral=false&metadata=version%3D1.0" >/dev/null
            done
            ;;
    esac
}

# wrk's arguments for operation $1 against the server at port $2.
wrk_args() {
    local base="http://127.0.0.1:$2"
    case "$1" in
        register) echo "-s benches/wrk/register.lua $base" ;;
        beat-light) echo "-s benches/wrk/beat_light.lua $base" ;;
        beat-json) echo "-s benches/wrk/beat_json.lua $base" ;;
        list-*) echo "$base/nacos/v1/ns/instance/list?serviceName=list-bench" ;;
    esac
}

printf '%-12s %-9s %12s %14s %12s\n' operation server "requests/s" "CPU µs/request" "RSS after"
# OPS: a subset of the operations (`OPS=register`).
read -r -a ops <<<"${OPS:-register beat-light beat-json list-10 list-100}"
for op in "${ops[@]}"; do
    for server in "${servers[@]}"; do
        port=$(free_port)
        if [[ "$server" == baseline ]]; then
            # The list answer nacre gives for the same service, so the bytes match.
            launch nacre "$port"
            wait_http "$port"
            fixtures "$port" "$op"
            curl -sf "http://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=list-bench" >"$work/list.json"
            kill "$pid"; wait "$pid" 2>/dev/null || true
            port=$(free_port)
            "$baseline_bin" "$port" "$work/list.json" >"$work/baseline.log" 2>&1 &
            pid=$!
        else
            launch "$server" "$port"
        fi
        wait_http "$port"
        [[ "$server" == baseline ]] || fixtures "$port" "$op"
        before=$(cpu_ticks "$pid")
        # shellcheck disable=SC2046
        out=$(wrk -t"$threads" -c"$conns" -d"$duration" $(wrk_args "$op" "$port"))
        after=$(cpu_ticks "$pid")
        requests=$(echo "$out" | awk '/requests in/ { print $1 }')
        rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
        errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
        us=$(cpu_per_request "$before" "$after" "$requests")
        rss=$(ps -o rss= -p "$pid" | tr -d ' ')
        printf '%-12s %-9s %12s %14s %9s KiB %s\n' "$op" "$server" "$rps" "$us" "$rss" "${errors:+($errors)}"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    done
done
