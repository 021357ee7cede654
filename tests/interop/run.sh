#!/usr/bin/env bash
# Interop test: nacos-sdk-python 0.1.17 (from PyPI, in a virtualenv) against nacre-server.
# Builds the binary, starts it on a free loopback port, runs nacos_sdk_interop.py, stops the
# server; then the same with auth on (lib.sh's start_nacre_server_with_auth) and the script's
# --auth checks (a writer, a reader, no credentials, a wrong password). Exits non-zero if any
# check fails. Set NACRE_INTEROP_RELEASE=1 for a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=debug
build_flags=()
if [[ "${NACRE_INTEROP_RELEASE:-0}" == 1 ]]; then
    profile=release
    build_flags=(--release)
fi
# All features, as `cargo test --all-features` built it already.
cargo build "${build_flags[@]}" --all-features --bin nacre-server
source tests/interop/lib.sh
server_bin="$(target_dir)/$profile/nacre-server"
venv=$(nacos_python_venv 0.1.17)

# Runs nacos_sdk_interop.py with $@ against the server just started, on port $port.
run_checks() {
    local status=0
    timeout 300 "$venv/bin/python" tests/interop/nacos_sdk_interop.py "$@" "127.0.0.1:$port" "$work/logs" ||
        status=$?
    if [[ $status -ne 0 ]]; then
        echo "interop failed (exit $status); server log:"
        cat "$work/server.log"
    fi
    return "$status"
}

status=0
port=$(free_port)
start_nacre_server "$server_bin" --port "$port" --grpc-port 0
run_checks || status=$?
stop_nacre_server

echo "-- with auth: a writer, a reader, no credentials, a wrong password"
port=$(free_port)
start_nacre_server_with_auth "$server_bin" --port "$port" --grpc-port 0
run_checks --auth || status=$?
exit "$status"
