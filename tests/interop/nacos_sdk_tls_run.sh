#!/usr/bin/env bash
# nacos-sdk-rust 0.8 with its `tls` and `auth-by-http` features (tests/interop/nacos_sdk_tls, a
# cargo project of its own: the feature turns https on for every nacos-sdk client in a build)
# against nacre-server with TLS (certificates from examples/cert_gen.rs) and auth (lib.sh's
# start_nacre_server_with_auth: a writer and a reader). The client trusts a CA through the
# environment only: NACOS_CLIENT_TLS_CA_CERT for gRPC, SSL_CERT_FILE for its login (reqwest on
# OpenSSL). With both, the writer registers, lists and is pushed a change, the reader lists and
# is refused a registration, and no credentials or a wrong password are refused; without the
# CA, with another CA, or with SSL_CERT_FILE alone (nacos-sdk gives gRPC no system roots) the
# client does not connect; with the gRPC CA alone it connects, its login fails, and it is
# refused. Exits non-zero if a check fails.
#
# The project is built in nacre's target folder with nacre's Cargo.lock copied in, so it reuses
# what `cargo test --all-features` compiled: only the crates the `tls` feature changes (OpenSSL's
# bindings, reqwest, hyper, tonic, nacos-sdk, ...) are compiled again.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh

# nacos-sdk's `tls` feature builds reqwest's native-tls, which links OpenSSL through pkg-config.
need_command pkg-config
if ! pkg-config --exists openssl; then
    echo "installing Debian's libssl-dev (OpenSSL's headers, for native-tls)" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "OpenSSL's headers are missing and this is not root: apt-get install libssl-dev" >&2
        exit 1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >&2
fi

# All features, as `cargo test --all-features` built them already.
cargo build --all-features --bin nacre-server --example cert_gen
target=$(target_dir)
project=tests/interop/nacos_sdk_tls
cp Cargo.lock "$project/Cargo.lock"
CARGO_TARGET_DIR="$target" cargo build --manifest-path "$project/Cargo.toml"
client="$target/debug/nacos_sdk_tls"

new_scratch_dir
"$target/debug/examples/cert_gen" "$scratch/certs" >/dev/null
ca=$scratch/certs/ca.pem
# Another throwaway CA, which did not sign the server's certificate.
"$target/debug/examples/cert_gen" "$scratch/other" >/dev/null
other_ca=$scratch/other/ca.pem

port=$(port_pair)
start_nacre_server_with_auth "$target/debug/nacre-server" --port "$port" \
    --tls-cert "$scratch/certs/server.pem" --tls-key "$scratch/certs/server.key"
wait_for_log "gRPC on"

status=0
# Runs the client's check $1 (see its main.rs) with the environment $2...; on a mismatch prints
# the client's log and the server's.
run_client() {
    local check=$1 rc=0
    shift
    echo "-- $check, with: ${*:-no CA}"
    env -u NACOS_CLIENT_TLS_CA_CERT -u SSL_CERT_FILE -u SSL_CERT_DIR "$@" \
        timeout 120 "$client" "127.0.0.1:$port" "$check" 2>"$scratch/client.log" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "nacos-sdk TLS check $check failed (exit $rc); the client's log:"
        cat "$scratch/client.log"
        echo "the server's log:"
        cat "$work/server.log"
        status=1
    fi
}

run_client trusted NACOS_CLIENT_TLS_CA_CERT="$ca" SSL_CERT_FILE="$ca"
run_client cannot-connect
run_client cannot-connect NACOS_CLIENT_TLS_CA_CERT="$other_ca" SSL_CERT_FILE="$other_ca"
run_client cannot-connect SSL_CERT_FILE="$ca"
run_client login-untrusted NACOS_CLIENT_TLS_CA_CERT="$ca"
exit "$status"
