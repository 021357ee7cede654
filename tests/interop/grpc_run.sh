#!/usr/bin/env bash
# Interop test over gRPC: nacos-sdk-python 3.2.0 (its Nacos 2.x client, `v2.nacos`, from PyPI,
# in a virtualenv kept between runs) against nacre-server. Builds the binary (all features,
# as `cargo test --all-features` already did), starts it on a free loopback port P whose
# P + 1000 (the gRPC port clients derive) is free too, runs nacos_v2_interop.py, stops the
# server by its pid. Exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --all-features --bin nacre-server
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
server_bin="$target_dir/debug/nacre-server"

# Kept outside the checkout, so a fresh clone on the same machine reuses it.
venv="${NACRE_CACHE:-$HOME/.cache/nacre}/interop-venv-v2"
mkdir -p "$(dirname "$venv")"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("nacos-sdk-python") != "3.2.0")' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "nacos-sdk-python==3.2.0"
fi

# A port P such that P and P + 1000 are both free.
port=$(python3 - <<'PY'
import socket
for _ in range(200):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    if p + 1000 > 65535:
        a.close(); continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1000))
    except OSError:
        a.close(); continue
    a.close(); b.close(); print(p); break
PY
)

work=$(mktemp -d)
"$server_bin" --port "$port" >"$work/server.log" 2>&1 &
server_pid=$!
cleanup() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q "gRPC on" "$work/server.log" 2>/dev/null && break
    sleep 0.1
done

status=0
timeout 300 "$venv/bin/python" tests/interop/nacos_v2_interop.py "127.0.0.1:$port" "$work" || status=$?
if [[ $status -ne 0 ]]; then
    echo "gRPC interop failed (exit $status); server log:"
    cat "$work/server.log"
fi
exit "$status"
