# One server at a time for the comparison benches (benches/grpc/run.sh, benches/rnacos/run.sh):
# source it from the repo root after tests/interop/lib.sh, with $nacre_bin and $rnacos set.
# It makes a scratch folder $work, removed on exit along with the running server.

work=$(mktemp -d)
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Starts server $1 (nacre or r-nacos) with its HTTP API on port $2 (gRPC on $2 + 1000); its
# pid goes to $pid. The caller waits for the port it needs.
launch() {
    local name=$1 port=$2
    case "$name" in
        # Every load comes from one loopback address: its share of the gRPC connections is
        # raised above the 1,000 of the default, and the total above the 10,000 of the default
        # (the push benches open up to 10,001).
        # NACRE_ARGS: more flags for nacre (a same-run comparison of one setting).
        # shellcheck disable=SC2086
        nacre) "$nacre_bin" --port "$port" --probe-deny 0.0.0.0/0 --grpc-max-connections 20000 \
            --grpc-max-connections-per-ip 100000 ${NACRE_ARGS:-} \
            >"$work/$name.log" 2>&1 & pid=$! ;;
        r-nacos) start_rnacos "$rnacos" "$port" "$work/rnacos" "$work/$name.log"; pid=$started_pid ;;
    esac
}

# Prints the running server's RSS (labelled $1) and stops it, by its pid.
stop() {
    local rss
    rss=$(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ')
    echo "    ($1 RSS after the run: ${rss:-?} KiB)"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

# The CPU time of process $1 so far, in clock ticks (utime + stime of /proc/PID/stat; the
# command name may hold spaces, so the fields are counted after its closing parenthesis).
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# The server CPU per request, in µs, from ticks $1 to $2 over $3 requests.
cpu_per_request() {
    python3 -c "import os; print(f'{($2 - $1) / os.sysconf(\"SC_CLK_TCK\") * 1e6 / max($3, 1):.1f}')"
}
