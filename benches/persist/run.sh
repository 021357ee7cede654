#!/usr/bin/env bash
# Persistent-register throughput (issue 12): v1 HTTP registrations with ephemeral=false into
# nacre-server's start-up path, memory only, --data-dir with group commit, and --data-dir with
# one fsync per write, in the same run (benches/tools/persist_load.rs); see BENCHMARKS.md.
#
#   bash benches/persist/run.sh            # WRITES=4000 CONCURRENCY=64 DIR=target/persist-bench
#
# DIR must be on the disk to measure (a tmpfs makes fsync free).
set -euo pipefail
cd "$(dirname "$0")/../.."
writes=${WRITES:-4000}
concurrency=${CONCURRENCY:-64}

source benches/support/tool.sh
load=$(bench_tool persist_load --features server)
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
dir=${DIR:-$target_dir/persist-bench}
df -h "$(dirname "$dir")" | tail -1
uptime
"$load" "$writes" "$concurrency" "$dir"
uptime
