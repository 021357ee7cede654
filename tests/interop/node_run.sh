#!/usr/bin/env bash
# Interop test: the npm client nacos-naming 2.6.3 (v1 HTTP, with UDP push), installed in a
# node_modules kept between runs (lib.sh's nacos_node_modules), against nacre-server. Builds
# the binary (all features, as `cargo test --all-features` already did), starts it on a free
# loopback port, runs nacos_node_interop.js, stops the server by its pid. Exits non-zero if
# any check fails. Needs node and npm (Node.js 20 here).
set -euo pipefail
cd "$(dirname "$0")/../.."

version=2.6.3
source tests/interop/lib.sh
cargo build --all-features --bin nacre-server
server_bin="$(target_dir)/debug/nacre-server"
modules=$(nacos_node_modules "$version")

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$server_bin" --port "$port" --grpc-port 0 >"$work/server.log" 2>&1 &
server_pid=$!
cleanup() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$work/server.log" 2>/dev/null && break
    sleep 0.1
done

status=0
timeout 180 node tests/interop/nacos_node_interop.js "127.0.0.1:$port" "$modules" || status=$?
if [[ $status -ne 0 ]]; then
    echo "nacos-naming interop failed (exit $status); server log:"
    cat "$work/server.log"
fi
exit "$status"
