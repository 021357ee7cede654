#!/usr/bin/env bash
# nacos-sdk-python's own test suite (test/client_v2_test.py at tag 3.2.0), run unchanged
# against nacre-server. The file is not in the package PyPI serves, and this machine's CI cannot
# reach GitHub, so it is not part of .ci/run: give a checkout of nacos-group/nacos-sdk-python
# (any clone; the file is read at the tag) as $1.
#
#   bash tests/interop/python_suite_run.sh ~/src/nacos-sdk-python
#
# The suite reads the server from NACOS_SERVER_ADDR and, for its two endpoint tests, the address
# server from NACOS_SERVER_ENDPOINT (nacre's GET /nacos/serverlist). It runs with the venv of
# tests/interop/grpc_run.sh (nacos-sdk-python 3.2.0). test_init_naming_and_config_service also
# starts a config client, and nacre serves naming only: that one fails with "RequestHandler Not
# Found: ConfigQueryRequest". Exits with the suite's status.
set -euo pipefail
checkout=${1:?usage: python_suite_run.sh NACOS_SDK_PYTHON_CHECKOUT}
cd "$(dirname "$0")/../.."
source tests/interop/lib.sh

venv=$(nacos_python_venv 3.2.0)
cargo build --all-features --bin nacre-server
suite=$(mktemp -d)
nacre_server_dirs+=("$suite")
mkdir -p "$suite/test"
git -C "$checkout" show 3.2.0:test/client_v2_test.py >"$suite/test/client_v2_test.py"
git -C "$checkout" show 3.2.0:test/__init__.py >"$suite/test/__init__.py"
port=$(port_pair)
start_nacre_server "$(target_dir)/debug/nacre-server" --port "$port"
wait_for_log "gRPC on"
cd "$suite"
NACOS_SERVER_ADDR="127.0.0.1:$port" NACOS_SERVER_ENDPOINT="127.0.0.1:$port" \
    timeout 600 "$venv/bin/python" -m unittest -v test.client_v2_test
