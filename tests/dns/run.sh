#!/usr/bin/env bash
# The DNS front end to end: `dig` (Debian's dnsutils, installed with apt-get if missing) against
# nacre-server --dns-port, and the system resolver (glibc's getent) in a network namespace of its
# own whose resolv.conf names nacre-server as its name server (iproute2's `ip netns`, as root).
#
# 1. dig: a service's SRV records name both beating instances (with their ports and weights,
#    the targets' addresses in the additional section), A and AAAA records their addresses,
#    over UDP and TCP; an unknown service is NXDOMAIN, a name outside the zone REFUSED. One
#    instance stops beating: once the registry marks it unhealthy (15 s), dig stops naming it
#    within the TTL (3 s).
# 2. The system resolver: `getent hosts` of a service's name gives its instance's address; once
#    it is deregistered the name no longer resolves.
# Every server is stopped by its pid. Exits non-zero if a check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh

need_command dig dnsutils
need_command curl
need_command ip iproute2
cargo build --all-features --bin nacre-server
bin="$(target_dir)/debug/nacre-server"

failed=0

port=$(free_port)
start_nacre_server "$bin" --port "$port" --grpc-port 0 --dns-port 0
wait_for_log "listening on"
dns=$(grep -o 'DNS on 127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$')
api="http://127.0.0.1:$port/nacos/v1/ns"
name=orders.DEFAULT_GROUP.public.nacre
q() { dig +short +time=2 +tries=1 @127.0.0.1 -p "$dns" "$@"; }
status_of() { dig +time=2 +tries=1 @127.0.0.1 -p "$dns" "$@" | grep -o 'status: [A-Z]*'; }

curl -sf -X POST "$api/instance?serviceName=orders&ip=10.0.0.1&port=8080&weight=2" >/dev/null
curl -sf -X POST "$api/instance?serviceName=orders&ip=fd00::2&port=9090" >/dev/null
beat() { curl -sf -X PUT "$api/instance/beat?serviceName=orders&ip=$1&port=$2" >/dev/null || true; }
# Both beat every 2 s; the second stops when $work/stop-b exists.
(
    while true; do
        beat 10.0.0.1 8080
        [[ -e "$work/stop-b" ]] || beat fd00::2 9090
        sleep 2
    done
) &
beater=$!
nacre_server_pids+=("$beater")

srv=$(q "$name" SRV | sort)
check "SRV names both instances with port and weight" \
    test "$srv" == $'1 100 9090 fd00--2.addr.nacre.\n1 200 8080 10-0-0-1.addr.nacre.'
check "the SRV targets' addresses come in the additional section" \
    bash -c "dig +time=2 +tries=1 @127.0.0.1 -p $dns $name SRV | grep -A3 'ADDITIONAL SECTION' | grep -q '10-0-0-1.addr.nacre.	3	IN	A	10.0.0.1'"
check "A gives the IPv4 address" test "$(q "$name" A)" == "10.0.0.1"
check "AAAA gives the IPv6 address" test "$(q "$name" AAAA)" == "fd00::2"
check "over TCP too" test "$(q +tcp "$name" A)" == "10.0.0.1"
check "an unknown service is NXDOMAIN" test "$(status_of nope.DEFAULT_GROUP.public.nacre A)" == "status: NXDOMAIN"
check "a name outside the zone is REFUSED" test "$(status_of example.com A)" == "status: REFUSED"

# The second instance stops beating.
touch "$work/stop-b"
stopped_at=$SECONDS
unhealthy_at=
gone_at=
for _ in $(seq 400); do
    if [[ -z "$unhealthy_at" ]] && curl -sf "$api/instance/list?serviceName=orders" | grep -q '"ip":"fd00::2"[^}]*"healthy":false'; then
        unhealthy_at=$SECONDS
    fi
    if [[ -z "$gone_at" ]] && ! q "$name" SRV | grep -q fd00--2; then
        gone_at=$SECONDS
    fi
    [[ -n "$unhealthy_at" && -n "$gone_at" ]] && break
    sleep 0.1
done
echo "   stopped beating at 0 s; unhealthy at $((${unhealthy_at:-999} - stopped_at)) s; gone from DNS at $((${gone_at:-999} - stopped_at)) s"
check "the silent instance leaves the DNS answer within the TTL (3 s) of turning unhealthy" \
    test -n "$unhealthy_at" -a -n "$gone_at" -a "$((${gone_at:-999} - ${unhealthy_at:-0}))" -le 3
check "the beating instance stays" test "$(q "$name" A)" == "10.0.0.1"
kill "$beater" 2>/dev/null || true
stop_nacre_server

# 2. The system resolver, in a network namespace whose resolv.conf names 127.0.0.1.
if [[ $(id -u) -ne 0 ]]; then
    echo "FAILED: the system-resolver check needs root (ip netns)"
    failed=1
else
    ns="nacre-dns-$$"
    cleanup_ns() {
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
        stop_nacre_servers
    }
    trap cleanup_ns EXIT
    ip netns add "$ns"
    mkdir -p "/etc/netns/$ns"
    echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
    ip netns exec "$ns" ip link set lo up
    work=$(mktemp -d)
    nacre_server_dirs+=("$work")
    ip netns exec "$ns" "$bin" --port 8848 --grpc-port 0 --dns-port 53 >"$work/server.log" 2>&1 &
    nacre_server_pids+=("$!")
    wait_for_log "listening on"
    in_ns() { ip netns exec "$ns" "$@"; }
    in_ns curl -sf -X POST "http://127.0.0.1:8848/nacos/v1/ns/instance?serviceName=payments&ip=10.9.0.7&port=80&ephemeral=false" >/dev/null
    check "getent hosts resolves a service through the system resolver" \
        bash -c "ip netns exec $ns getent hosts payments.DEFAULT_GROUP.public.nacre | grep -q '^10.9.0.7 '"
    in_ns curl -sf -X DELETE "http://127.0.0.1:8848/nacos/v1/ns/instance?serviceName=payments&ip=10.9.0.7&port=80&ephemeral=false" >/dev/null
    check "once deregistered, the name no longer resolves" \
        bash -c "! ip netns exec $ns getent hosts payments.DEFAULT_GROUP.public.nacre"
fi
if [[ $failed -ne 0 ]]; then
    echo "server log:"; tail -30 "$work/server.log"
    exit 1
fi
echo "dns: all checks passed"
