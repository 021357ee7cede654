#!/usr/bin/env bash
# Interop test over gRPC: nacos-sdk-python 3.2.0 (its Nacos 2.x client, `v2.nacos`, from PyPI,
# in a virtualenv kept between runs) against nacre-server. Builds the binary (all features,
# as `cargo test --all-features` already did), starts it on a free loopback port P whose
# P + 1000 (the gRPC port clients derive) is free too, runs nacos_v2_interop.py, stops the
# server by its pid; then the same with auth on (lib.sh's start_nacre_server_with_auth) and the
# script's --auth checks (a writer, a reader, no credentials, a wrong password); then with mutual
# TLS (certificates from examples/cert_gen.rs) and its --tls checks; then nacos_v2_control.py,
# which starts and restarts a server of its own (with --data-dir) to check a client in a created
# namespace, and that an operator's edit outlives the client's re-registrations. Exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh
cargo build --all-features --bin nacre-server --example cert_gen
server_bin="$(target_dir)/debug/nacre-server"
venv=$(nacos_python_venv 3.2.0)
# Runs nacos_v2_interop.py with $@ against the server just started, on port $port.
run_checks() {
    local status=0
    local mode=() certs=()
    if [[ $# -gt 0 ]]; then mode=("$1"); fi
    if [[ $# -gt 1 ]]; then certs=("$2"); fi
    timeout 300 "$venv/bin/python" tests/interop/nacos_v2_interop.py "${mode[@]}" "127.0.0.1:$port" \
        "$work" "${certs[@]}" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "gRPC interop failed (exit $status); server log:"
        cat "$work/server.log"
    fi
    return "$status"
}

status=0
port=$(port_pair)
start_nacre_server "$server_bin" --port "$port"
wait_for_log "gRPC on"
run_checks || status=$?
stop_nacre_server

echo "-- with auth: a writer, a reader, no credentials, a wrong password"
port=$(port_pair)
start_nacre_server_with_auth "$server_bin" --port "$port"
wait_for_log "gRPC on"
run_checks --auth || status=$?
stop_nacre_server

echo "-- with mutual TLS on the gRPC port (certificates from examples/cert_gen.rs)"
new_scratch_dir
certs=$scratch
"$(target_dir)/debug/examples/cert_gen" "$certs" >/dev/null
port=$(port_pair)
start_nacre_server "$server_bin" --port "$port" \
    --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --tls-client-ca "$certs/ca.pem"
wait_for_log "gRPC on"
# grpcio's core logs each refused handshake of the checks that expect them: keep it quiet.
GRPC_VERBOSITY=NONE run_checks --tls "$certs" || status=$?
stop_nacre_server

echo "-- the control plane: a created namespace; an operator's edit outlives the client's reconnects and restarts"
new_scratch_dir
timeout 300 "$venv/bin/python" tests/interop/nacos_v2_control.py "$server_bin" "$scratch" \
    2> >(grep -v -e "^Task was destroyed" -e "^task: <Task" -e "^Task exception" -e "^future: <Task" \
        -e "^RuntimeError: aclose" >&2) || status=$?
exit "$status"
