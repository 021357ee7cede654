#!/usr/bin/env bash
# Browser test of the web console (feature console): a real headless Chromium (Debian's
# `chromium`, installed with apt-get if missing) driven by playwright-core from npm (installed
# once into $NACRE_CACHE, default ~/.cache/nacre, and reused), against nacre-server on a free
# loopback port. console_test.js loads the page, registers instances over the Nacos API and
# watches them appear and one turn unhealthy without a reload, then edits weight and enabled
# and deregisters through the page; a namespace created through the namespace API is listed by
# its name, and the page's edits are marked and hold over the client's re-registration. An
# instance's history reads as its story: registered over gRPC by a real client
# (nacos-sdk-python 3.2.0), disabled in the page, its client frozen (SIGSTOP) until the server
# drops its connection and withdraws it, then thawed (SIGCONT) to come back by its redo. Then, against a second server with a users file (auth
# on), the page asks for a login, refuses a wrong password, lets a read-write user see services
# live and edit, logs out, and shows a read-only user only the services it may read, without
# edit controls, its forced edit refused and nothing changed. Stops the servers by their pids.
# Exits non-zero if a check fails.
#
#   tests/console/run.sh                                # screenshot into a temporary folder
#   tests/console/run.sh --screenshot docs/console.png  # keep it (the README's)
set -euo pipefail
cd "$(dirname "$0")/../.."

playwright_version=1.56.1
shot=""
if [[ "${1:-}" == "--screenshot" ]]; then
    shot=$(realpath -m "$2")
fi

source tests/interop/lib.sh

chromium_bin=${CHROMIUM:-}
if [[ -z "$chromium_bin" ]]; then
    need_command chromium
    chromium_bin=$(command -v chromium)
fi

prefix="${NACRE_CACHE:-$HOME/.cache/nacre}/console-playwright-core-$playwright_version"
installed=$(node -p "require('$prefix/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [[ "$installed" != "$playwright_version" ]]; then
    rm -rf "$prefix"
    mkdir -p "$prefix"
    # playwright-core brings no browser of its own; Debian's is used.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund --loglevel=error \
        --prefix "$prefix" "playwright-core@$playwright_version" >&2
fi

cargo build --all-features --bin nacre-server
server_bin="$(target_dir)/debug/nacre-server"

# nacos-sdk-python 3.2.0 for the timeline's provider (a real gRPC client), in its cached venv.
venv=$(nacos_python_venv 3.2.0)

# gRPC on port + 1000, where nacos-sdk-python looks. A connection silent for 3 s is probed and
# dropped 2 s later: the timeline check's frozen client loses its connection quickly.
port=$(port_pair)
# With a data directory: the control plane (namespace names, operators' edits kept).
new_scratch_dir
start_nacre_server "$server_bin" --port "$port" --grpc-port $((port + 1000)) --data-dir "$scratch" \
    --grpc-idle-before-probe 3s --grpc-probe-timeout 2s
[[ -n "$shot" ]] || shot="$work/console.png"

# The second server, with auth: `admin` may do anything, `viewer` may only read the service
# DEFAULT_GROUP@@orders of the public namespace. The hashes come from the binary's own tool.
hash() { printf '%s\n' "$1" | "$server_bin" hash-password; }
cat >"$work/users.toml" <<EOF
[[user]]
username = "admin"
password_bcrypt = "$(hash admin-pw)"
[[user]]
username = "viewer"
password_bcrypt = "$(hash viewer-pw)"
[[role]]
role = "ROLE_ADMIN"
username = "admin"
[[role]]
role = "orders-readers"
username = "viewer"
[[permission]]
role = "orders-readers"
resource = "public:DEFAULT_GROUP:naming/orders"
action = "r"
EOF
head -c 32 /dev/urandom | base64 >"$work/token.key"
auth_port=$(free_port)
"$server_bin" --port "$auth_port" --grpc-port 0 --users-file "$work/users.toml" \
    --token-secret-file "$work/token.key" >"$work/auth-server.log" 2>&1 &
auth_pid=$!
trap 'kill "$server_pid" "$auth_pid" 2>/dev/null || true; wait "$server_pid" "$auth_pid" 2>/dev/null || true; rm -rf "$work" "$scratch"' EXIT

# Both answer within 30 s, or the test fails.
for url in "http://127.0.0.1:$port/console/" "http://127.0.0.1:$auth_port/console/"; do
    deadline=$((SECONDS + 30))
    until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "$url does not answer; logs:"
            cat "$work/server.log" "$work/auth-server.log"
            exit 1
        fi
        sleep 0.1
    done
done

status=0
PROVIDER_PY="$venv/bin/python" PROVIDER_LOG="$work/provider" GRPC_OFFSET=1000 \
    CHROMIUM="$chromium_bin" timeout 300 node tests/console/console_test.js "127.0.0.1:$port" \
    "$prefix/node_modules" "$shot" "127.0.0.1:$auth_port" || status=$?
if [[ $status -ne 0 ]]; then
    echo "console browser test failed (exit $status); server log:"
    cat "$work/server.log"
    echo "--- the server with auth:"
    cat "$work/auth-server.log"
fi
exit "$status"
