#!/usr/bin/env bash
# Browser test of the web console (feature console): a real headless Chromium (Debian's
# `chromium`, installed with apt-get if missing) driven by playwright-core from npm (installed
# once into $NACRE_CACHE, default ~/.cache/nacre, and reused), against nacre-server on a free
# loopback port. console_test.js loads the page, registers instances over the Nacos API and
# watches them appear and one turn unhealthy without a reload, then edits weight and enabled
# and deregisters through the page. Stops the server by its pid. Exits non-zero if a check
# fails.
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

chromium_bin=${CHROMIUM:-$(command -v chromium || true)}
if [[ -z "$chromium_bin" ]]; then
    echo "installing Debian's chromium" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "chromium is missing and this is not root: apt-get install chromium" >&2
        exit 1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
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

port=$(free_port)
start_nacre_server "$server_bin" --port "$port" --grpc-port 0
[[ -n "$shot" ]] || shot="$work/console.png"
wait_for_log "listening on"

status=0
CHROMIUM="$chromium_bin" timeout 240 node tests/console/console_test.js "127.0.0.1:$port" \
    "$prefix/node_modules" "$shot" || status=$?
if [[ $status -ne 0 ]]; then
    echo "console browser test failed (exit $status); server log:"
    cat "$work/server.log"
fi
exit "$status"
