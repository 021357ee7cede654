#!/usr/bin/env bash
# Interop test: the npm client nacos-naming 2.6.3 (v1 HTTP, with UDP push), installed in a
# node_modules kept between runs (lib.sh's nacos_node_modules), against nacre-server. Builds
# the binary (all features, as `cargo test --all-features` already did), starts it on a free
# loopback port, runs nacos_node_interop.js, stops the server by its pid; then the same with
# auth on (lib.sh's start_nacre_server_with_auth) and the script's --auth checks. Exits non-zero
# if any check fails. Needs node and npm (Node.js 20 here).
set -euo pipefail
cd "$(dirname "$0")/../.."

version=2.6.3
source tests/interop/lib.sh
cargo build --all-features --bin nacre-server
server_bin="$(target_dir)/debug/nacre-server"
modules=$(nacos_node_modules "$version")

# Runs nacos_node_interop.js with $@ against the server just started, on port $port.
run_checks() {
    local status=0
    timeout 180 node tests/interop/nacos_node_interop.js "$@" "127.0.0.1:$port" "$modules" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "nacos-naming interop failed (exit $status); server log:"
        cat "$work/server.log"
    fi
    return "$status"
}

status=0
port=$(free_port)
start_nacre_server "$server_bin" --port "$port" --grpc-port 0
wait_for_log "listening on"
run_checks || status=$?
stop_nacre_server

echo "-- with auth: username/password options, a writer and a reader with tokens, no credentials"
port=$(free_port)
start_nacre_server_with_auth "$server_bin" --port "$port" --grpc-port 0
wait_for_log "listening on"
run_checks --auth || status=$?
exit "$status"
