#!/usr/bin/env bash
# UDP push to 1,000 v1 clients (issue 10): one change to a service with TARGETS UDP push
# targets, timed until every target has acked, with the datagrams and bytes it took, beside a
# hand-written fan-out of the same data in the same run. Everything runs in one process on
# loopback (examples/udp_push_load.rs); see BENCHMARKS.md.
#
#   bash benches/udp/run.sh            # TARGETS=1000 SIZES=0,10,100 RUNS=3
#
# It needs TARGETS + 3 UDP sockets: the script raises the open-file limit if it can.
set -euo pipefail
cd "$(dirname "$0")/../.."
targets=${TARGETS:-1000}
sizes=${SIZES:-0,10,100}
runs=${RUNS:-3}

cargo build --release --features http --example udp_push_load
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ulimit -n 65536 2>/dev/null || true
uptime
"$target_dir/release/examples/udp_push_load" "$targets" "$sizes" "$runs"
uptime
