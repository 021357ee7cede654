#!/usr/bin/env bash
# UDP push to 1,000 v1 clients (issue 10): one change to a service with TARGETS UDP push
# targets, timed until every target has acked, with the datagrams and bytes it took, beside a
# hand-written fan-out of the same data in the same run. Everything runs in one process on
# loopback (benches/tools/udp_push_load.rs); see BENCHMARKS.md.
#
#   bash benches/udp/run.sh            # TARGETS=1000 SIZES=0,10,100 RUNS=3
#
# It needs TARGETS + 3 UDP sockets: the script raises the open-file limit if it can.
set -euo pipefail
cd "$(dirname "$0")/../.."
targets=${TARGETS:-1000}
sizes=${SIZES:-0,10,100}
runs=${RUNS:-3}

source benches/support/tool.sh
load=$(bench_tool udp_push_load --features http)
ulimit -n 65536 2>/dev/null || true
uptime
"$load" "$targets" "$sizes" "$runs"
uptime
