#!/usr/bin/env bash
# The chaos test (tests/cluster/chaos.rs): three nacre-server processes on loopback, clients
# that register, beat and deregister through random members, SIGKILL + restart of one member
# and SIGSTOP/SIGCONT of another per round. The short run (1 round, about 30 s) is part of
# `cargo test`; this script runs it alone, or longer:
#
#   tests/chaos/run.sh            # 1 round
#   tests/chaos/run.sh --long     # 10 rounds (about 5 minutes)
#   NACRE_CHAOS_SEED=42 tests/chaos/run.sh --rounds 3
#
# It prints the operations, the faults and the number lost (must be 0); the members' logs stay
# in $TMPDIR/nacre-chaos-<pid> when it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --long) rounds=10 ;;
        --rounds) rounds=$2; shift ;;
        *) echo "usage: $0 [--long | --rounds N]" >&2; exit 2 ;;
    esac
    shift
done
NACRE_CHAOS_ROUNDS=$rounds exec cargo test --all-features --test cluster chaos:: -- --nocapture
