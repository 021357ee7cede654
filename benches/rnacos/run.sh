#!/usr/bin/env bash
# nacre-server beside r-nacos over the v1 HTTP API, as issue 13 measured them: wrk on loopback,
# one server at a time, a fresh server for each operation, nacre first and then r-nacos, so
# both see the same machine. Operations: register (a new instance per request), beat (a light
# beat of one instance), list (a service of LIST_SIZE persistent instances). Prints requests
# per second, the size of one list answer, and each server's RSS after its run.
#
# r-nacos: `cargo install rnacos` (about 10 minutes); set RNACOS=/path/to/rnacos if it is not on
# the PATH. Without it, only nacre is measured. Needs wrk (apt-get install wrk).
# Defaults: DURATION=10s THREADS=1 CONNS=32 LIST_SIZE=100 RUNS=1. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${DURATION:-10s}
threads=${THREADS:-1}
conns=${CONNS:-32}
list_size=${LIST_SIZE:-100}
runs=${RUNS:-1}
rnacos=${RNACOS:-$(command -v rnacos || true)}

cargo build --release --all-features --bin nacre-server
source tests/interop/lib.sh
nacre_bin="$(target_dir)/release/nacre-server"
ulimit -n 65536 2>/dev/null || true

wait_http() {
    for _ in $(seq 200); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/nacos/v1/ns/service/list"; then return 0; fi
        sleep 0.05
    done
    echo "nothing answers on port $1" >&2
    return 1
}

source benches/servers.sh

start() { # name port
    launch "$1" "$2"
    wait_http "$2"
}

servers=(nacre)
if [[ -n "$rnacos" && -x "$rnacos" ]]; then servers+=(r-nacos); else echo "r-nacos not found: measuring nacre only"; fi
list_path="/nacos/v1/ns/instance/list?serviceName=list-bench"

for run in $(seq "$runs"); do
    for op in register beat list; do
        for server in "${servers[@]}"; do
            port=$(free_port)
            start "$server" "$port"
            base="http://127.0.0.1:$port"
            case "$op" in
                register) script=(-s benches/wrk/register.lua); url=$base ;;
                beat)
                    curl -sf -X POST "$base/nacos/v1/ns/instance?serviceName=beat-bench&ip=10.0.0.1&port=8080" >/dev/null
                    script=(-s benches/wrk/beat_light.lua); url=$base ;;
                list)
                    for i in $(seq "$list_size"); do
                        curl -sf -X POST "$base/nacos/v1/ns/instance?serviceName=list-bench&ip=10.1.$((i / 256)).$((i % 256))&port=8080&ephemeral=false&metadata=version%3D1.0" >/dev/null
                    done
                    # r-nacos applies writes asynchronously: wait until the list holds them all.
                    for _ in $(seq 100); do
                        n=$(curl -sf "$base$list_path" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("hosts", [])))')
                        [[ "$n" == "$list_size" ]] && break
                        sleep 0.1
                    done
                    echo "    $server list answer: $(curl -sf "$base$list_path" | wc -c) bytes for $n instances"
                    script=(); url=$base$list_path ;;
            esac
            echo "---- run $run, $op, $server: wrk -t$threads -c$conns -d$duration"
            wrk -t"$threads" -c"$conns" -d"$duration" --latency "${script[@]}" "$url" |
                grep -E "Requests/sec|Latency |99%|Non-2xx|Socket errors" || true
            stop "$server"
        done
    done
done
