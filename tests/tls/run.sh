#!/usr/bin/env bash
# TLS end to end with curl (installed with apt-get if missing): nacre-server with a
# certificate made by examples/cert_gen.rs (rcgen, so a fresh machine needs no openssl), on a
# free loopback port. Over HTTPS, a client that trusts the CA registers and lists an instance
# (by IP address and by name); one that does not trust it fails, and so does plaintext HTTP.
# The gRPC port negotiates HTTP/2 (ALPN h2). A second server with --tls-client-ca serves only
# a client with a certificate the CA signed. Servers are stopped by their pid. Exits non-zero
# if a check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh

need_command curl

# All features, as `cargo test --all-features` built them already.
cargo build --all-features --bin nacre-server --example cert_gen
bin="$(target_dir)/debug"
certs="$(target_dir)/tls-run-certs"
rm -rf "$certs"
"$bin/examples/cert_gen" "$certs" >/dev/null

failed=0
# curl's exit code for `curl ARGS` (0 when it got an answer), its output in $out.
curl_rc() {
    local rc=0
    out=$(curl --silent --show-error --max-time 10 "$@" 2>&1) || rc=$?
    return "$rc"
}
succeeds() { curl_rc "$@"; }
fails() { ! curl_rc "$@"; }
says() {
    local want=$1
    shift
    curl_rc "$@" && [[ "$out" == *"$want"* ]]
}
prints() {
    local want=$1
    shift
    curl_rc "$@" && [[ "$out" == "$want" ]]
}
stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}
show_log_if_failed() {
    if [[ $failed -ne 0 ]]; then
        echo "server log:"
        cat "$work/server.log"
    fi
}

port=$(free_port)
start_nacre_server "$bin/nacre-server" --port "$port" --grpc-port 0 \
    --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"
wait_for_log "listening on"
grpc=$(grep -o 'gRPC on 127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$')
api="https://127.0.0.1:$port/nacos/v1/ns"

check "HTTPS with the CA trusted: register" \
    says ok --cacert "$certs/ca.pem" -X POST "$api/instance?serviceName=orders&ip=10.0.0.1&port=8080"
check "HTTPS with the CA trusted: list" \
    says '"ip":"10.0.0.1"' --cacert "$certs/ca.pem" "$api/instance/list?serviceName=orders"
check "HTTPS by name (localhost)" \
    says '"ip":"10.0.0.1"' --cacert "$certs/ca.pem" \
    "https://localhost:$port/nacos/v1/ns/instance/list?serviceName=orders"
check "HTTPS without the CA fails" \
    fails "$api/instance/list?serviceName=orders"
check "plaintext HTTP to the TLS port fails" \
    fails "http://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=orders"
check "the gRPC port speaks TLS with ALPN h2 (HTTP/2)" \
    prints 2 --cacert "$certs/ca.pem" --http2 -o /dev/null -w '%{http_version}' \
    "https://127.0.0.1:$grpc/"
show_log_if_failed
stop_server
rm -rf "$work"

port=$(free_port)
start_nacre_server "$bin/nacre-server" --port "$port" --grpc-port 0 \
    --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --tls-client-ca "$certs/ca.pem"
wait_for_log "listening on"
api="https://127.0.0.1:$port/nacos/v1/ns"
check "mutual TLS: no client certificate fails" \
    fails --cacert "$certs/ca.pem" "$api/instance/list?serviceName=orders"
check "mutual TLS: a stranger's certificate fails" \
    fails --cacert "$certs/ca.pem" --cert "$certs/stranger.pem" --key "$certs/stranger.key" \
    "$api/instance/list?serviceName=orders"
check "mutual TLS: the client's certificate is served" \
    says '"hosts"' --cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" \
    "$api/instance/list?serviceName=orders"
show_log_if_failed

exit "$failed"
