#!/usr/bin/env bash
# Interop test: nacos-sdk-python 0.1.17 (from PyPI, in a virtualenv) against nacre-server.
# Builds the binary, starts it on a free loopback port, runs nacos_sdk_interop.py, stops the
# server. Exits non-zero if any check fails. Set NACRE_INTEROP_RELEASE=1 for a release build.
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
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
server_bin="$target_dir/$profile/nacre-server"

# The client, in a virtualenv kept between runs.
# Kept outside the checkout, so a fresh clone on the same machine reuses it.
venv="${NACRE_CACHE:-$HOME/.cache/nacre}/interop-venv"
mkdir -p "$(dirname "$venv")"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("nacos-sdk-python") != "0.1.17")' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "nacos-sdk-python==0.1.17"
fi

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

status=0
timeout 300 "$venv/bin/python" tests/interop/nacos_sdk_interop.py "127.0.0.1:$port" "$work/logs" || status=$?
if [[ $status -ne 0 ]]; then
    echo "interop failed (exit $status); server log:"
    cat "$work/server.log"
fi
exit "$status"
