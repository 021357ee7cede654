#!/usr/bin/env bash
# Interop test: the official Nacos Java client 2.2.3 (shared/java-client, beside the checkout;
# its install.sh installs a JDK and the Debian jars it runs on) against nacre-server over gRPC.
# Compiles tests/interop/java/NacreInterop.java (the classes are kept in $NACRE_CACHE, default
# ~/.cache/nacre, and rebuilt when the source changes), then runs it four times, each against a
# server of its own on a free loopback port P whose P + 1000 (the gRPC port the client derives)
# is free too: without auth (`plain`), with auth on (`auth`: a writer, a reader, no
# credentials, a wrong password; lib.sh's start_nacre_server_with_auth), with TLS (`tls`: the
# client trusting the CA, one trusting another CA, one without TLS; certificates from
# examples/cert_gen.rs), and with mutual TLS (`mtls`). Then, against a server with --data-dir
# (a control plane): clients in a namespace created through the namespace API, and a persistent
# instance registered, listed and deregistered through the log (`namespace`),
# and an operator's edit against the
# program's `provider` mode: an instance disabled with PUT /nacos/v1/ns/instance stays disabled
# after the server restarts (the client reconnects and registers again) and after the provider
# process is killed and started again (a server with --data-dir, whose control plane keeps the
# edit). Last, a graceful handover between two members (`handover` below): the clients of a
# member stopped with SIGTERM (this Java client and nacos-sdk-python 3.2.0, through
# tests/interop/handover.py) move to the other member, and a watcher there never sees their
# instances missing. Each server and provider is stopped by its pid. Exits non-zero if any
# check fails.
#
# gRPC TLS: grpc-java needs ALPN, which Debian 12's Netty 4.1.48 offers only with the OpenSSL
# provider (with the JDK's, GrpcSslContexts fails: "JDK provider does not support ALPN"). That is
# netty-tcnative, Debian's libnetty-tcnative-java (the jar) and libnetty-tcnative-jni (the
# library), installed here if missing. Netty loads the library as netty_tcnative, and the
# library checks its own file name (a symbolic link resolves to Debian's libnetty-tcnative.so and
# is refused: "unexpected library path", then UnsatisfiedLinkError "unsupported JNI version
# 0xFFFFFFFF"), so a copy named libnetty_tcnative.so is kept in $NACRE_CACHE and put on
# java.library.path.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh
# The client: $NACRE_JAVA_CLIENT, else shared/java-client beside this checkout, else beside the
# repository this one was cloned from (a CI run in a fresh clone elsewhere).
client_dir=${NACRE_JAVA_CLIENT:-}
if [[ -z "$client_dir" ]]; then
    client_dir=../shared/java-client
    origin=$(git remote get-url origin 2>/dev/null || true)
    if [[ ! -d "$client_dir" && -d "$origin/../shared/java-client" ]]; then
        client_dir="$origin/../shared/java-client"
    fi
fi
if [[ ! -x "$client_dir/install.sh" ]]; then
    echo "the Java client is not at $client_dir (set NACRE_JAVA_CLIENT)" >&2
    exit 1
fi
cp=$("$client_dir/install.sh")
need_command curl
need_debian_packages libnetty-tcnative-java libnetty-tcnative-jni
cp="$cp:/usr/share/java/netty-tcnative.jar"
tcnative_so=$(dpkg -L libnetty-tcnative-jni | grep '/libnetty-tcnative\.so$' | head -n 1)
native="${NACRE_CACHE:-$HOME/.cache/nacre}/java-interop/native"
if ! cmp -s "$tcnative_so" "$native/libnetty_tcnative.so"; then
    mkdir -p "$native"
    cp "$tcnative_so" "$native/libnetty_tcnative.so.tmp.$$"
    mv "$native/libnetty_tcnative.so.tmp.$$" "$native/libnetty_tcnative.so"
fi

cargo build --all-features --bin nacre-server --example cert_gen
server_bin="$(target_dir)/debug/nacre-server"
cert_gen="$(target_dir)/debug/examples/cert_gen"

source_file=tests/interop/java/NacreInterop.java
classes="${NACRE_CACHE:-$HOME/.cache/nacre}/java-interop/$(sha256sum "$source_file" | cut -c1-16)"
if [[ ! -f "$classes/NacreInterop.class" ]]; then
    rm -rf "$classes.tmp" && mkdir -p "$classes.tmp"
    javac -Xlint:all,-path -Werror -cp "$cp" -d "$classes.tmp" "$source_file"
    rm -rf "$classes" && mv "$classes.tmp" "$classes"
fi

# Runs the program in mode $1 against the server just started on port $2 (further arguments
# passed on, JVM options from the array java_opts); its logs and naming cache go to the
# server's scratch folder, not the home directory (the client's logs: nacos-client.log and
# nacos/*.log there).
java_opts=()
run_java() {
    local mode=$1 port=$2 status=0
    shift 2
    mkdir -p "$work/java"
    timeout 180 java -cp "$cp:$classes" -Djava.library.path="$native" \
        -DJM.LOG.PATH="$work/java" -DJM.SNAPSHOT.PATH="$work/java" \
        -Dcom.alibaba.nacos.naming.cache.dir="$work/java" \
        -Dlogback.configurationFile=tests/interop/java/logback.xml \
        -Djava.util.logging.config.file=tests/interop/java/logging.properties \
        "${java_opts[@]}" NacreInterop "$mode" "127.0.0.1:$port" "$@" || status=$?
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
stop_nacre_server

# The checks of the TLS phases beside the program's: the server over HTTPS (curl, the trusted CA
# and $curl_cert) shows nothing of the refused service $1, and the client's logs say why its
# connections failed.
checks_over_https() {
    local refused=$1 out
    out=$(curl --silent --show-error --max-time 10 --cacert "$certs/ca.pem" "${curl_cert[@]}" \
        "https://127.0.0.1:$port/nacos/v1/ns/service/list?pageNo=1&pageSize=100") || out="curl failed: $out"
    if [[ "$out" == *'"doms"'* && "$out" != *"$refused"* ]]; then
        echo "ok   over HTTPS (curl --cacert), the service list does not name $refused: $out"
    else
        echo "FAIL over HTTPS (curl --cacert), the service list: $out"
        status=1
    fi
    out=$(curl --silent --show-error --max-time 10 --cacert "$certs/ca.pem" "${curl_cert[@]}" \
        "https://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=$refused") || out="curl failed: $out"
    if [[ "$out" == *'"hosts":[]'* ]]; then
        echo "ok   over HTTPS (curl --cacert), $refused has no instance"
    else
        echo "FAIL over HTTPS (curl --cacert), the instances of $refused: $out"
        status=1
    fi
}

# The client's gRPC log ($work/java/nacos/remote.log) shows why a refused client's connections
# failed: $2, what the check $1 expects.
client_log_says() {
    local what=$1 pattern=$2 n
    n=$(grep -c -- "$pattern" "$work/java/nacos/remote.log" 2>/dev/null || true)
    if [[ ${n:-0} -gt 0 ]]; then
        echo "ok   the client's log: $what ($n times \"$pattern\")"
    else
        echo "FAIL the client's log never says \"$pattern\" ($what)"
        status=1
    fi
}

echo "-- over gRPC TLS: the CA trusted (and https for a persistent instance), another CA, no TLS"
new_scratch_dir
certs=$scratch/certs
other=$scratch/other
"$cert_gen" "$certs" >/dev/null
"$cert_gen" "$other" >/dev/null
port=$(port_pair)
start_nacre_server "$server_bin" --port "$port" --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"
wait_for_log "gRPC on"
# The client's v1 HTTP (persistent instances) over https, trusting the CA: JVM-wide settings.
java_opts=(-Dtls.enable=true -Dtls.client.authServer=true -Dtls.client.trustCertPath="$certs/ca.pem")
run_java tls "$port" "$certs" "$other" || status=$?
curl_cert=()
checks_over_https java-tls-refused
client_log_says "the client trusting another CA refused the server's certificate" \
    "PKIX path validation failed"
client_log_says "the client without TLS was answered with a TLS alert record (15 03 03)" \
    "First received frame was not SETTINGS. Hex dump for first 5 bytes: 150303"
stop_nacre_server

echo "-- over gRPC with mutual TLS: the client's certificate, none, one of another CA, trusting another CA"
port=$(port_pair)
start_nacre_server "$server_bin" --port "$port" --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" \
    --tls-client-ca "$certs/ca.pem"
wait_for_log "gRPC on"
java_opts=()
run_java mtls "$port" "$certs" "$other" || status=$?
curl_cert=(--cert "$certs/client.pem" --key "$certs/client.key")
checks_over_https java-mtls-refused
client_log_says "the server refused the client without a certificate" "alert certificate required"
client_log_says "the server refused the certificate of another CA (a bad signature)" "alert decrypt error"
client_log_says "the client trusting another CA refused the server's certificate" \
    "PKIX path validation failed"
stop_nacre_server

echo "-- the control plane: a created namespace; an operator's edit outlives the client's reconnects and restarts"
port=$(port_pair)
data=$(mktemp -d)
nacre_server_dirs+=("$data")
start_nacre_server "$server_bin" --port "$port" --data-dir "$data"
wait_for_log "gRPC on"
created=$(curl --silent --max-time 5 -X POST "http://127.0.0.1:$port/nacos/v1/console/namespaces" \
    --data-urlencode customNamespaceId=team-java --data-urlencode "namespaceName=Team Java")
if [[ "$created" == true ]]; then
    run_java namespace "$port" team-java || status=$?
    listed=$(curl --silent --max-time 5 "http://127.0.0.1:$port/nacos/v1/console/namespaces")
    if [[ "$listed" == *'"namespace":"team-java"'* && "$listed" == *'"namespaceShowName":"Team Java"'* ]]; then
        echo "ok   the namespace API lists team-java by its name"
    else
        echo "FAIL the namespace API's list: $listed"
        status=1
    fi
else
    echo "FAIL creating the namespace team-java answered: $created"
    status=1
fi
override_status=0
provider_pid=
# Starts the program's provider mode in the background (its pid in $java_provider_pid): the
# servers $2 ("host:port,..."), service $3, address $4; its logs under folder $1.
java_provider() {
    local dir=$1
    mkdir -p "$dir/java"
    java -cp "$cp:$classes" -DJM.LOG.PATH="$dir/java" -DJM.SNAPSHOT.PATH="$dir/java" \
        -Dcom.alibaba.nacos.naming.cache.dir="$dir/java" \
        -Dlogback.configurationFile=tests/interop/java/logback.xml \
        -Djava.util.logging.config.file=tests/interop/java/logging.properties \
        NacreInterop provider "$2" "$3" "$4" >"$dir/java-provider.log" 2>&1 &
    java_provider_pid=$!
}
start_provider() {
    java_provider "$work" "127.0.0.1:$port" java-drained 10.0.0.8
    provider_pid=$java_provider_pid
}
stop_provider() {
    if [[ -n "$provider_pid" ]]; then
        kill -9 "$provider_pid" 2>/dev/null || true
        wait "$provider_pid" 2>/dev/null || true
        provider_pid=
    fi
}
trap 'stop_provider; stop_nacre_servers' EXIT
instance_url="http://127.0.0.1:$port/nacos/v1/ns/instance?serviceName=java-drained&ip=10.0.0.8&port=8080"
# The instance as the server holds it (`enabled` and all), or nothing (status 404) within 60 s
# of polling for $1: "present" or "absent".
await_instance() {
    local want=$1 out
    for _ in $(seq 600); do
        out=$(curl --silent --max-time 5 --fail "$instance_url" || true)
        if [[ "$want" == present && -n "$out" ]]; then
            echo "$out"
            return 0
        fi
        if [[ "$want" == absent && -z "$out" ]]; then
            return 0
        fi
        sleep 0.1
    done
    echo "timed out waiting for the instance to be $want" >&2
    return 1
}
# The check $1: the instance is present and disabled, also a second later.
expect_disabled() {
    local what=$1 out
    if out=$(await_instance present) && [[ "$out" == *'"enabled":false'* ]] \
        && sleep 1 && out=$(await_instance present) && [[ "$out" == *'"enabled":false'* ]]; then
        echo "ok   $what: $out"
    else
        echo "FAIL $what: ${out:-no instance}"
        override_status=1
    fi
}
start_provider
if await_instance present >/dev/null; then
    answer=$(curl --silent --max-time 5 -X PUT "$instance_url&enabled=false")
    listed=$(curl --silent --max-time 5 "http://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=java-drained")
    if [[ "$answer" == ok && "$listed" == *'"hosts":[]'* ]]; then
        echo "ok   disabled by the operator: no longer listed"
    else
        echo "FAIL disabled by the operator: PUT answered $answer; listed $listed"
        override_status=1
    fi
    # The server restarts: the client reconnects and its redo registers the instance again.
    kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
    launch_nacre_server "$server_bin" --port "$port" --data-dir "$data"
    trap 'stop_provider; stop_nacre_servers' EXIT # launch_nacre_server set its own
    wait_for_log "gRPC on"
    expect_disabled "still disabled after the Java client reconnects and registers again"
    # The provider process is killed and started again.
    stop_provider
    await_instance absent || override_status=1
    start_provider
    expect_disabled "still disabled after the Java client process restarts"
else
    echo "FAIL the Java provider's instance never showed up"
    override_status=1
fi
stop_provider
if [[ $override_status -ne 0 ]]; then
    echo "the provider's output:"; cat "$work/java-provider.log"
    echo "server log:"; cat "$work/server.log"
    status=1
fi
echo "-- graceful handover: two members; the clients of the one stopped with SIGTERM move to the other"
# Two members, A and B. The providers, the Java client and nacos-sdk-python 3.2.0, are each
# given both addresses and connect to one at random: the Python provider is started again
# until it is on the Java provider's member (`ss` tells), which is then the one stopped (M);
# the other (O) keeps serving. A watcher on O (a Python client subscribed through O alone, and
# a poll of O's instance list every 10 ms) sees both instances; then M is stopped with SIGTERM.
# Checks: M told both clients to move (its log); each provider's gRPC connection is then to O
# (ss); no push and no poll on O ever missed either instance; 20 s later (beyond the 15 s a
# silent instance stays healthy) both are still listed healthy on O, so the clients registered
# them again there and O keeps them alive.
need_command ss iproute2
handover_status=0
venv=$(nacos_python_venv 3.2.0)
pa=$(port_pair)
pb=$(port_pair)
while [[ "$pb" == "$pa" ]]; do pb=$(port_pair); done
members="127.0.0.1:$pa,127.0.0.1:$pb"
export NACRE_CLUSTER_SECRET=handover-test-cluster-secret
start_nacre_server "$server_bin" --port "$pa" --members "$members"
declare -A member_pid member_work
member_pid[$pa]=$server_pid
member_work[$pa]=$work
start_nacre_server "$server_bin" --port "$pb" --members "$members"
member_pid[$pb]=$server_pid
member_work[$pb]=$work
hw=$(mktemp -d)
nacre_server_dirs+=("$hw")
# Polls (up to 60 s) until `$1` succeeds.
poll_until() {
    for _ in $(seq 600); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for: $1" >&2
    return 1
}
ready() {
    curl --silent --fail --max-time 5 "http://127.0.0.1:$1/nacos/v1/console/health/readiness" >/dev/null
}
# Whether member port $1 lists instance ip $3 in service $2 (healthy ones only with $4=true).
lists() {
    curl --silent --max-time 5 \
        "http://127.0.0.1:$1/nacos/v1/ns/instance/list?serviceName=$2&healthyOnly=${4:-false}" |
        grep -q "\"ip\":\"$3\""
}
# The member (its HTTP port) the process $1 has a gRPC connection to, if any.
member_of() {
    local port
    for port in "$pa" "$pb"; do
        if ss -tnp | grep "pid=$1," | grep -Eq "127.0.0.1\]?:$((port + 1000)) "; then
            echo "$port"
            return 0
        fi
    done
    return 1
}
java_pid=
py_pid=
watch_pid=
stop_handover() {
    local pid
    for pid in "$java_pid" "$py_pid" "$watch_pid"; do
        [[ -n "$pid" ]] && { kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    done
    stop_nacre_servers
}
trap stop_handover EXIT
start_py_provider() {
    "$venv/bin/python" tests/interop/handover.py --provider "$members" "$hw" handover-py 10.0.0.22 \
        >"$hw/py-provider.log" 2>&1 &
    py_pid=$!
}
poll_until "ready $pa && ready $pb" || handover_status=1
java_provider "$hw" "$members" handover-java 10.0.0.21
java_pid=$java_provider_pid
stopped=
if poll_until "lists $pa handover-java 10.0.0.21" && stopped=$(member_of "$java_pid"); then
    for _ in $(seq 10); do
        start_py_provider
        poll_until "lists $pa handover-py 10.0.0.22 && member_of $py_pid >/dev/null" || break
        [[ "$(member_of "$py_pid")" == "$stopped" ]] && break
        kill -9 "$py_pid"; wait "$py_pid" 2>/dev/null || true
        # Its instance leaves with its connection before the next one registers.
        poll_until "! lists $pa handover-py 10.0.0.22"
    done
fi
if [[ -n "$stopped" && "$(member_of "$py_pid")" == "$stopped" ]]; then
    other=$pa
    [[ "$stopped" == "$pa" ]] && other=$pb
    echo "     both providers are on the member at port $stopped; the other is at $other"
    poll_until "lists $other handover-java 10.0.0.21 && lists $other handover-py 10.0.0.22" || handover_status=1
    mkfifo "$hw/watch.in"
    "$venv/bin/python" tests/interop/handover.py --watch "127.0.0.1:$other" "$hw" \
        handover-java:10.0.0.21 handover-py:10.0.0.22 <"$hw/watch.in" >"$hw/watch.out" 2>&1 &
    watch_pid=$!
    exec 7>"$hw/watch.in"
    poll_until "grep -q WATCHING '$hw/watch.out'" || handover_status=1
    # The member stops gracefully, as a service manager stops it.
    kill -TERM "${member_pid[$stopped]}"
    wait "${member_pid[$stopped]}" 2>/dev/null || true
    told=$(grep -o 'told=[0-9]* still_open=[0-9]*' "${member_work[$stopped]}/server.log" || true)
    if [[ "$told" == "told=2 "* ]]; then
        echo "ok   the stopped member told both clients to move before it stopped ($told)"
    else
        echo "FAIL the stopped member's log has no handover of two clients: ${told:-nothing}"
        handover_status=1
    fi
    for who in "java:$java_pid" "python:$py_pid"; do
        if poll_until "[[ \$(member_of ${who#*:}) == $other ]]"; then
            echo "ok   the ${who%%:*} provider is connected to the other member"
        else
            echo "FAIL the ${who%%:*} provider never connected to the other member"
            handover_status=1
        fi
    done
    sleep 20
    for target in "handover-java 10.0.0.21" "handover-py 10.0.0.22"; do
        if lists "$other" $target true; then
            echo "ok   ${target% *} is listed healthy on the other member 20 s after the stop"
        else
            echo "FAIL ${target% *} is not listed healthy on the other member 20 s after the stop"
            handover_status=1
        fi
    done
    exec 7>&-
    wait "$watch_pid" 2>/dev/null || true
    watch_pid=
    summary=$(tail -n 1 "$hw/watch.out")
    if python3 -c 'import json, sys
s = json.loads(sys.argv[1])
ok = all(v["polls"] > 100 and v["pushes"] > 0 and v["poll_misses"] == 0 and v["push_misses"] == 0
         for v in s.values())
sys.exit(0 if ok else 1)' "$summary" 2>/dev/null; then
        echo "ok   no push and no poll on the other member ever missed either instance: $summary"
    else
        echo "FAIL the watcher saw an instance missing: $(grep MISSING "$hw/watch.out" | head -5) $summary"
        handover_status=1
    fi
else
    echo "FAIL the two providers were never on one member"
    handover_status=1
fi
if [[ $handover_status -ne 0 ]]; then
    echo "the Java provider:"; tail -20 "$hw/java-provider.log"
    echo "the Python provider:"; tail -20 "$hw/py-provider.log"
    for port in "$pa" "$pb"; do
        echo "the log of the member at $port:"; tail -40 "${member_work[$port]}/server.log"
    done
    status=1
fi
exit "$status"
