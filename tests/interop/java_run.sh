#!/usr/bin/env bash
# Interop test: the official Nacos Java client 2.2.3 (shared/java-client, beside the checkout;
# its install.sh installs a JDK and the Debian jars it runs on) against nacre-server over gRPC.
# Compiles tests/interop/java/NacreInterop.java (the classes are kept in $NACRE_CACHE, default
# ~/.cache/nacre, and rebuilt when the source changes), then runs it twice, each against a
# server of its own on a free loopback port P whose P + 1000 (the gRPC port the client derives)
# is free too: without auth (`plain`), and with auth on (`auth`: a writer, a reader, no
# credentials, a wrong password; lib.sh's start_nacre_server_with_auth). Each server is stopped
# by its pid. Exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh
client_dir=${NACRE_JAVA_CLIENT:-../shared/java-client}
if [[ ! -x "$client_dir/install.sh" ]]; then
    echo "the Java client is not at $client_dir (set NACRE_JAVA_CLIENT)" >&2
    exit 1
fi
cp=$("$client_dir/install.sh")

cargo build --all-features --bin nacre-server
server_bin="$(target_dir)/debug/nacre-server"

source_file=tests/interop/java/NacreInterop.java
classes="${NACRE_CACHE:-$HOME/.cache/nacre}/java-interop/$(sha256sum "$source_file" | cut -c1-16)"
if [[ ! -f "$classes/NacreInterop.class" ]]; then
    rm -rf "$classes.tmp" && mkdir -p "$classes.tmp"
    javac -Xlint:all,-path -Werror -cp "$cp" -d "$classes.tmp" "$source_file"
    rm -rf "$classes" && mv "$classes.tmp" "$classes"
fi

# Runs the program in mode $1 against the server just started; its logs and naming cache go to
# the server's scratch folder, not the home directory (the client's logs: nacos-client.log and
# nacos/*.log there).
run_java() {
    local mode=$1 port=$2 status=0
    mkdir -p "$work/java"
    timeout 180 java -cp "$cp:$classes" \
        -DJM.LOG.PATH="$work/java" -DJM.SNAPSHOT.PATH="$work/java" \
        -Dcom.alibaba.nacos.naming.cache.dir="$work/java" \
        -Dlogback.configurationFile=tests/interop/java/logback.xml \
        -Djava.util.logging.config.file=tests/interop/java/logging.properties \
        NacreInterop "$mode" "127.0.0.1:$port" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "Java client interop ($mode) failed (exit $status); the client's logs:"
        # Its own configurator sends the com.alibaba.nacos loggers to nacos/*.log (the gRPC
        # client's connection errors are in remote.log); the rest goes to nacos-client.log.
        tail -n 100 "$work/java/nacos-client.log" "$work/java/nacos/remote.log" \
            "$work/java/nacos/naming.log" 2>/dev/null || true
        echo "server log:"
        cat "$work/server.log"
    fi
    return "$status"
}

status=0
echo "-- without auth"
port=$(port_pair)
start_nacre_server "$server_bin" --port "$port"
wait_for_log "gRPC on"
run_java plain "$port" || status=$?
stop_nacre_server

echo "-- with auth: a writer, a reader, no credentials, a wrong password"
port=$(port_pair)
start_nacre_server_with_auth "$server_bin" --port "$port"
wait_for_log "gRPC on"
run_java auth "$port" || status=$?
# The redo check's worth: the reader's registration was retried (and refused) by its redo task.
echo "the server refused $(grep -c 'outcome="forbidden" caller="reader"' "$work/server.log" || true) requests of the reader" \
    "and $(grep -c 'outcome="no_token"' "$work/server.log" || true) without a token"
exit "$status"
