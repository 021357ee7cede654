#!/usr/bin/env bash
# Memory per instance in a real process (issue 24, item 4): one standalone nacre-server loaded
# with $INSTANCES instances ($PER per service, no metadata unless METADATA is a JSON object)
# over the v1 HTTP API by benches/tools/scale_load.rs. Prints the server's RSS when idle and
# empty, after the registrations, and the RSS per instance net of the idle figure.
#
#   bash benches/memory/run.sh                    # 200 000 instances, 10 per service
#   INSTANCES=1000000 PER=100 bash benches/memory/run.sh
#   SERVER=/tmp/nacre-server-old bash benches/memory/run.sh   # another build
#
# r-nacos is not measured here: it registers pipelined requests at about 1,500/s, so the
# first of 200 000 unbeaten instances expire (30 s) before the last arrive. The five-member
# figures are in benches/scale/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
INSTANCES=${INSTANCES:-200000}
PER=${PER:-10}
METADATA=${METADATA:--}
SERVICES=$((INSTANCES / PER))

source tests/interop/lib.sh
source benches/support/tool.sh
if [[ -n "${SERVER:-}" ]]; then
    nacre_bin=$SERVER
else
    cargo build --quiet --release --features server --bin nacre-server
    nacre_bin="$(target_dir)/release/nacre-server"
fi
load=$(bench_tool scale_load --quiet --all-features)
source benches/servers.sh

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

wait_http() { # port
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$1/nacos/v1/ns/operator/metrics" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "no HTTP answer on port $1" >&2
    return 1
}

echo "$INSTANCES instances, $PER per service, metadata $METADATA"
for server in nacre; do
    port=$(port_pair)
    launch "$server" "$port"
    wait_http "$port"
    sleep 1
    idle=$(rss_kib "$pid")
    "$load" register "127.0.0.1:$port" "$SERVICES" "$PER" "$METADATA" | sed 's/^/    /'
    sleep 10
    loaded=$(rss_kib "$pid")
    count=$(curl -sf "http://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=svc-000000" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hosts"]))')
    python3 -c "print(f'$server: RSS idle $idle KiB, loaded $loaded KiB ({$count} instances in svc-000000): {($loaded - $idle) * 1024 / $INSTANCES:.0f} B per instance')"
    stop "$server"
done
