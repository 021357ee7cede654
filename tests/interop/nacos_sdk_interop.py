"""Drives a running nacre-server with the Python Nacos client, nacos-sdk-python 0.1.17.

Usage: nacos_sdk_interop.py HOST:PORT LOG_DIR
       nacos_sdk_interop.py --auth HOST:PORT LOG_DIR   (a server with auth on)

Every naming call that client offers is made (add, modify, remove, list, get, heartbeat,
automatic heartbeats, subscribe) and each answer is checked against what the client and a
Nacos server would give. With --auth, three identities against one server (the users of
tests/interop/lib.sh, from the environment): a writer registers, lists, beats and sees a
change through its subscription; a reader lists and gets, and its registration and removal are
refused (the client raises NacosException "Insufficient privilege.") and change nothing; a
client without credentials can do nothing; a wrong password fails the client's construction
(its login answers 403). Prints one line per check, then `N passed, M failed`; exits 1 if any
check failed.

One client quirk shows here as it would against Nacos: the client sends a missing
`cluster_name` as the text `None` (Python's urlencode of None), which is a valid cluster name,
so such an instance lands in cluster `None`. The checks pass cluster names explicitly, and one
check pins the quirk.
"""

import os
import socket
import sys
import threading
import time
import traceback

from urllib.error import HTTPError

import nacos
from nacos.exception import NacosException
from nacos.listener import SubscribeListener

AUTH = sys.argv[1] == "--auth"
ADDR, LOG_DIR = sys.argv[2:4] if AUTH else sys.argv[1:3]

passed = 0
failed = 0


def check(name, fn):
    """Runs one check; an AssertionError or any exception fails it."""
    global passed, failed
    try:
        fn()
    except Exception:  # noqa: BLE001 - every failure counts
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc(file=sys.stdout)
    else:
        passed += 1
        print(f"ok   {name}")


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def wait_until(what, cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_until_settled(what, cond, hold=1.5, timeout=20.0):
    """Waits until `cond` has held for `hold` seconds on end: a write still in flight when it
    first held (a beat that re-registers a removed instance) makes it fail again, and the wait
    goes on."""
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        if cond():
            since = since if since is not None else time.monotonic()
            if time.monotonic() - since >= hold:
                return
        else:
            since = None
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (for {hold}s on end)")


def wait_for_server():
    host, port = ADDR.rsplit(":", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nacre-server did not listen on {ADDR} within 60 s")


def hosts(result):
    return sorted((h["ip"], h["port"], h["clusterName"]) for h in result["hosts"])


wait_for_server()
if not AUTH:
    client = nacos.NacosClient(ADDR, logDir=LOG_DIR)
    dev = nacos.NacosClient(ADDR, namespace="interop-dev", logDir=LOG_DIR)


def register():
    ok = client.add_naming_instance(
        "orders", "10.0.0.1", 8080, cluster_name="hz", weight=2.0,
        metadata={"version": "1.0"}, group_name="shop")
    expect(ok is True, f"add_naming_instance answered {ok!r}, the client wants b'ok'")
    ok = client.add_naming_instance(
        "orders", "10.0.0.2", 8080, cluster_name="sh", group_name="shop")
    expect(ok is True, f"second add answered {ok!r}")


def list_all():
    result = client.list_naming_instance("orders", group_name="shop")
    expect(result["name"] == "shop@@orders", f"name {result['name']!r}")
    expect(result["groupName"] == "shop", f"groupName {result['groupName']!r}")
    expect(result["clusters"] == "", f"clusters {result['clusters']!r}")
    expect(isinstance(result["cacheMillis"], int) and result["cacheMillis"] > 0, "cacheMillis")
    expect(isinstance(result["lastRefTime"], int) and result["lastRefTime"] > 0, "lastRefTime")
    expect(isinstance(result["checksum"], str), "checksum")
    expect(hosts(result) == [("10.0.0.1", 8080, "hz"), ("10.0.0.2", 8080, "sh")], hosts(result))
    first = next(h for h in result["hosts"] if h["ip"] == "10.0.0.1")
    expect(first["instanceId"] == "10.0.0.1#8080#hz#shop@@orders", first["instanceId"])
    expect(first["weight"] == 2.0, f"weight {first['weight']}")
    expect(first["healthy"] is True and first["enabled"] is True, "healthy and enabled")
    expect(first["ephemeral"] is True, "ephemeral")
    expect(first["metadata"] == {"version": "1.0"}, f"metadata {first['metadata']}")
    expect(first["serviceName"] == "shop@@orders", first["serviceName"])


def list_filtered():
    result = client.list_naming_instance("orders", clusters="sh", group_name="shop")
    expect(hosts(result) == [("10.0.0.2", 8080, "sh")], hosts(result))
    result = client.list_naming_instance("orders", group_name="shop", healthy_only=True)
    expect(len(result["hosts"]) == 2 and all(h["healthy"] for h in result["hosts"]),
           hosts(result))


def get_one():
    result = client.get_naming_instance("shop@@orders", "10.0.0.1", 8080, cluster_name="hz")
    expect(result["service"] == "shop@@orders", result)
    expect((result["ip"], result["port"], result["clusterName"]) == ("10.0.0.1", 8080, "hz"),
           result)
    expect(result["weight"] == 2.0 and result["healthy"] is True, result)
    expect(result["instanceId"] == "10.0.0.1#8080#hz#shop@@orders", result)
    expect(result["metadata"] == {"version": "1.0"}, result)


def get_unknown_raises():
    try:
        client.get_naming_instance("shop@@orders", "10.9.9.9", 1, cluster_name="hz")
    except NacosException as e:
        expect("404" in str(e), f"expected a 404, got {e}")
    else:
        raise AssertionError("an unknown instance should be an error")


def heartbeat():
    answer = client.send_heartbeat(
        "orders", "10.0.0.1", 8080, cluster_name="hz", weight=2.0,
        metadata={"version": "1.0"}, group_name="shop")
    expect(answer["code"] == 10200, answer)
    expect(answer["clientBeatInterval"] == 5000, answer)
    expect(answer["lightBeatEnabled"] is True, answer)


def heartbeat_registers_an_unknown_instance():
    answer = client.send_heartbeat(
        "orders", "10.0.0.3", 8080, cluster_name="hz", group_name="shop")
    expect(answer["code"] == 10200, answer)
    result = client.list_naming_instance("orders", group_name="shop")
    expect(("10.0.0.3", 8080, "hz") in hosts(result), hosts(result))
    expect(client.remove_naming_instance(
        "orders", "10.0.0.3", 8080, cluster_name="hz", group_name="shop") is True, "remove")


def modify():
    ok = client.modify_naming_instance(
        "orders", "10.0.0.1", 8080, cluster_name="hz", weight=3.0, group_name="shop")
    expect(ok is True, f"modify answered {ok!r}")
    result = client.get_naming_instance("shop@@orders", "10.0.0.1", 8080, cluster_name="hz")
    expect(result["weight"] == 3.0, result)
    ok = client.modify_naming_instance(
        "orders", "10.0.0.1", 8080, cluster_name="hz", enable=False, group_name="shop")
    expect(ok is True, "disable")
    result = client.list_naming_instance("orders", group_name="shop")
    expect(hosts(result) == [("10.0.0.2", 8080, "sh")], f"disabled is not listed: {hosts(result)}")
    # As in Nacos 2.x, an update sets weight and enabled both: the weight not sent went back
    # to 1.
    result = client.get_naming_instance("shop@@orders", "10.0.0.1", 8080, cluster_name="hz")
    expect(result["weight"] == 1.0, result)
    expect(client.modify_naming_instance(
        "orders", "10.0.0.1", 8080, cluster_name="hz", enable=True, group_name="shop") is True,
        "enable")


def modify_unknown_is_ok_and_stores_nothing():
    # Nacos 2.x answers `ok` for an instance nobody registered (it keeps the values for the
    # address); nacre stores nothing.
    ok = client.modify_naming_instance(
        "orders", "10.9.9.9", 1, cluster_name="hz", weight=1.0, group_name="shop")
    expect(ok is True, f"modify answered {ok!r}")
    result = client.list_naming_instance("orders", group_name="shop")
    expect(("10.9.9.9", 1, "hz") not in hosts(result), hosts(result))


def bad_input_raises_400():
    try:
        client.add_naming_instance("orders", "10.0.0.1", 0, cluster_name="hz", group_name="shop")
    except NacosException as e:
        expect("400" in str(e), f"expected a 400, got {e}")
    else:
        raise AssertionError("port 0 should be refused")


def missing_cluster_name_is_the_text_none():
    expect(client.add_naming_instance("quirk", "10.0.0.1", 1) is True, "add")
    result = client.list_naming_instance("quirk")
    expect(hosts(result) == [("10.0.0.1", 1, "None")], hosts(result))
    expect(client.remove_naming_instance("quirk", "10.0.0.1", 1, cluster_name="None") is True,
           "remove")
    expect(client.list_naming_instance("quirk")["hosts"] == [], "removed")


def namespaces_are_apart():
    expect(dev.add_naming_instance("orders", "10.1.0.1", 80, cluster_name="hz") is True, "add")
    expect(hosts(dev.list_naming_instance("orders")) == [("10.1.0.1", 80, "hz")], "dev list")
    expect(client.list_naming_instance("orders")["hosts"] == [], "public list stays empty")
    expect(dev.remove_naming_instance("orders", "10.1.0.1", 80, cluster_name="hz") is True,
           "remove")


def unknown_service_lists_empty():
    result = client.list_naming_instance("nobody", group_name="shop")
    expect(result["hosts"] == [], result)


def automatic_heartbeats_keep_an_instance_alive():
    # Short timeouts through the preserved metadata: unhealthy after 1.5 s, removed after
    # 3 s without a beat. One instance beats every 0.5 s (the client's HeartbeatTask), the
    # other never does.
    timing = {"preserved.heart.beat.timeout": "1500", "preserved.ip.delete.timeout": "3000"}
    expect(client.add_naming_instance(
        "beats", "10.2.0.1", 80, cluster_name="hz", metadata=timing,
        heartbeat_interval=0.5) is True, "add beating")
    expect(client.add_naming_instance(
        "beats", "10.2.0.2", 80, cluster_name="hz", metadata=timing) is True, "add silent")
    # The server sweeps at least every 5 s, so the silent one goes within 3 + 5 s.
    wait_until("the silent instance to be removed",
               lambda: ("10.2.0.2", 80, "hz") not in hosts(client.list_naming_instance("beats")))
    result = client.list_naming_instance("beats")
    expect(hosts(result) == [("10.2.0.1", 80, "hz")], f"the beating one stays: {hosts(result)}")
    expect(result["hosts"][0]["healthy"] is True, "the beating one is healthy")
    expect(client.remove_naming_instance("beats", "10.2.0.1", 80, cluster_name="hz") is True,
           "remove stops the beats")
    # A beat the client's task had in flight when it stopped may land after the removal and
    # register the instance again (a v1 beat carrying the instance does, in Nacos 1.x too);
    # never beaten again, it goes within 3 + 5 s.
    wait_until_settled(
        "the removed instance gone",
        lambda: ("10.2.0.1", 80, "hz") not in hosts(client.list_naming_instance("beats")))


def subscribe_sees_changes():
    events = []
    lock = threading.Lock()

    def on_change(event, instance):
        with lock:
            events.append((event, instance.instance["ip"]))

    client.subscribe([SubscribeListener(on_change, "interop")], 0.3,
                     service_name="orders", group_name="shop", clusters="sh")
    expect(client.add_naming_instance(
        "orders", "10.0.0.4", 8080, cluster_name="sh", group_name="shop") is True, "add")
    wait_until("an ADDED event", lambda: ("ADDED", "10.0.0.4") in events)
    expect(client.remove_naming_instance(
        "orders", "10.0.0.4", 8080, cluster_name="sh", group_name="shop") is True, "remove")
    wait_until("a DELETED event", lambda: ("DELETED", "10.0.0.4") in events)
    client.unsubscribe("orders")
    client.stop_subscribe()


def deregister():
    for ip, cluster in [("10.0.0.1", "hz"), ("10.0.0.2", "sh")]:
        ok = client.remove_naming_instance(
            "orders", ip, 8080, cluster_name=cluster, group_name="shop")
        expect(ok is True, f"remove answered {ok!r}")
    expect(client.list_naming_instance("orders", group_name="shop")["hosts"] == [], "empty")
    # Removing again is not an error, as in Nacos.
    expect(client.remove_naming_instance(
        "orders", "10.0.0.1", 8080, cluster_name="hz", group_name="shop") is True, "again")


def modify_and_remove_without_a_cluster_name():
    # Registered into cluster `None` (the quirk above); modified and removed without naming a
    # cluster, which Nacos 2.x resolves by ip:port.
    expect(client.add_naming_instance("quirk2", "10.0.0.2", 2) is True, "add")
    expect(client.modify_naming_instance("quirk2", "10.0.0.2", 2, weight=4.0) is True, "modify")
    got = client.list_naming_instance("quirk2")["hosts"]
    expect([(h["ip"], h["weight"]) for h in got] == [("10.0.0.2", 4.0)], got)
    expect(client.remove_naming_instance("quirk2", "10.0.0.2", 2) is True, "remove")
    expect(client.list_naming_instance("quirk2")["hosts"] == [], "removed")


PLAIN = [
    ("register", register),
    ("list all instances", list_all),
    ("list filtered by cluster and health", list_filtered),
    ("get one instance", get_one),
    ("get an unknown instance is a 404", get_unknown_raises),
    ("heartbeat answers 10200", heartbeat),
    ("a heartbeat with data registers an unknown instance", heartbeat_registers_an_unknown_instance),
    ("modify weight and enabled", modify),
    ("modify an unknown instance is ok and stores nothing", modify_unknown_is_ok_and_stores_nothing),
    ("bad input is a 400", bad_input_raises_400),
    ("a missing cluster_name is sent as `None`", missing_cluster_name_is_the_text_none),
    ("modify and remove without a cluster name", modify_and_remove_without_a_cluster_name),
    ("namespaces are apart", namespaces_are_apart),
    ("an unknown service lists empty", unknown_service_lists_empty),
    ("automatic heartbeats keep an instance alive", automatic_heartbeats_keep_an_instance_alive),
    ("subscribe sees additions and removals", subscribe_sees_changes),
    ("deregister", deregister),
]


def expect_refused(what, call):
    """`call` must raise the client's answer to a 403."""
    try:
        call()
    except NacosException as e:
        print(f"     {what}: NacosException {e}")
        expect("Insufficient privilege" in str(e), f"{what}: {e}")
    else:
        raise AssertionError(f"{what} was not refused")


def auth_checks():
    writer = nacos.NacosClient(ADDR, username=os.environ["NACRE_WRITER"],
                               password=os.environ["NACRE_WRITER_PASSWORD"], logDir=LOG_DIR)
    reader = nacos.NacosClient(ADDR, username=os.environ["NACRE_READER"],
                               password=os.environ["NACRE_READER_PASSWORD"], logDir=LOG_DIR)
    nobody = nacos.NacosClient(ADDR, logDir=LOG_DIR)
    service = "secured"

    def listed():
        return hosts(writer.list_naming_instance(service))

    def writer_logged_in():
        expect(isinstance(writer.token, str) and writer.token.count(".") == 2,
               f"token {writer.token!r}")
        expect(writer.token_ttl == 18000, f"tokenTtl {writer.token_ttl}")

    def writer_registers_and_lists():
        expect(writer.add_naming_instance(service, "10.5.0.1", 8080, cluster_name="hz") is True,
               "add")
        expect(listed() == [("10.5.0.1", 8080, "hz")], listed())
        got = writer.get_naming_instance(service, "10.5.0.1", 8080, cluster_name="hz")
        expect((got["ip"], got["port"]) == ("10.5.0.1", 8080), got)

    def writer_subscription_sees_changes():
        events = []

        def on_change(event, instance):
            events.append((event, instance.instance["ip"]))

        writer.subscribe([SubscribeListener(on_change, "auth")], 0.3,
                         service_name=service, clusters="sh")
        expect(writer.add_naming_instance(service, "10.5.0.2", 8080, cluster_name="sh") is True,
               "add")
        wait_until("an ADDED event", lambda: ("ADDED", "10.5.0.2") in events)
        expect(writer.remove_naming_instance(service, "10.5.0.2", 8080, cluster_name="sh")
               is True, "remove")
        wait_until("a DELETED event", lambda: ("DELETED", "10.5.0.2") in events)
        writer.unsubscribe(service)
        writer.stop_subscribe()

    def writer_heartbeats_keep_an_instance_alive():
        # As in the plain run: removed 3 s after its last beat; this one beats every 0.5 s with
        # the writer's token, the silent one does not beat at all.
        timing = {"preserved.heart.beat.timeout": "1500", "preserved.ip.delete.timeout": "3000"}
        expect(writer.add_naming_instance(service, "10.5.0.3", 80, cluster_name="beats",
                                          metadata=timing, heartbeat_interval=0.5) is True, "add")
        expect(writer.add_naming_instance(service, "10.5.0.4", 80, cluster_name="beats",
                                          metadata=timing) is True, "add silent")
        wait_until("the silent instance to be removed",
                   lambda: ("10.5.0.4", 80, "beats") not in listed())
        expect(("10.5.0.3", 80, "beats") in listed(), f"the beating one stays: {listed()}")
        expect(writer.remove_naming_instance(service, "10.5.0.3", 80, cluster_name="beats")
               is True, "remove")
        # As in the plain run: a beat in flight may register it again; it goes within 3 + 5 s,
        # so it must stay gone before the next checks list the service.
        wait_until_settled("the removed instance gone",
                           lambda: ("10.5.0.3", 80, "beats") not in listed())

    def reader_lists_and_gets():
        expect(hosts(reader.list_naming_instance(service)) == [("10.5.0.1", 8080, "hz")],
               "reader's list")
        got = reader.get_naming_instance(service, "10.5.0.1", 8080, cluster_name="hz")
        expect(got["instanceId"] == "10.5.0.1#8080#hz#DEFAULT_GROUP@@secured", got)

    def reader_cannot_register_or_remove():
        expect_refused("the reader's add", lambda: reader.add_naming_instance(
            service, "10.5.0.9", 8080, cluster_name="hz"))
        expect_refused("the reader's remove", lambda: reader.remove_naming_instance(
            service, "10.5.0.1", 8080, cluster_name="hz"))
        expect_refused("the reader's modify", lambda: reader.modify_naming_instance(
            service, "10.5.0.1", 8080, cluster_name="hz", weight=9.0))
        expect_refused("the reader's heartbeat", lambda: reader.send_heartbeat(
            service, "10.5.0.9", 8080, cluster_name="hz"))
        expect(listed() == [("10.5.0.1", 8080, "hz")], f"nothing changed: {listed()}")
        got = writer.get_naming_instance(service, "10.5.0.1", 8080, cluster_name="hz")
        expect(got["weight"] == 1.0, f"weight unchanged: {got}")

    def nobody_can_do_nothing():
        expect(nobody.token is None, "no login without credentials")
        expect_refused("list without credentials", lambda: nobody.list_naming_instance(service))
        expect_refused("get without credentials", lambda: nobody.get_naming_instance(
            service, "10.5.0.1", 8080, cluster_name="hz"))
        expect_refused("add without credentials", lambda: nobody.add_naming_instance(
            service, "10.5.0.8", 8080, cluster_name="hz"))
        expect_refused("remove without credentials", lambda: nobody.remove_naming_instance(
            service, "10.5.0.1", 8080, cluster_name="hz"))
        expect_refused("heartbeat without credentials", lambda: nobody.send_heartbeat(
            service, "10.5.0.8", 8080, cluster_name="hz"))
        expect(listed() == [("10.5.0.1", 8080, "hz")], f"nothing changed: {listed()}")

    def wrong_password_fails_the_login():
        # Last: failed logins count against this address.
        try:
            nacos.NacosClient(ADDR, username=os.environ["NACRE_WRITER"], password="wrong",
                              logDir=LOG_DIR)
        except HTTPError as e:
            print(f"     the constructor raised {e!r}")
            expect(e.code == 403, f"HTTP {e.code}")
        else:
            raise AssertionError("a client with a wrong password was constructed")

    def writer_deregisters():
        expect(writer.remove_naming_instance(service, "10.5.0.1", 8080, cluster_name="hz") is True,
               "remove")
        expect(listed() == [], listed())

    return [
        ("writer: logged in at construction", writer_logged_in),
        ("writer: register, list, get", writer_registers_and_lists),
        ("writer: its subscription sees an addition and a removal",
         writer_subscription_sees_changes),
        ("writer: automatic heartbeats keep an instance alive", writer_heartbeats_keep_an_instance_alive),
        ("reader: list and get", reader_lists_and_gets),
        ("reader: add, remove, modify and heartbeat are refused and change nothing",
         reader_cannot_register_or_remove),
        ("no credentials: list, get, add, remove and heartbeat are refused",
         nobody_can_do_nothing),
        ("wrong password: the client's login is refused with 403", wrong_password_fails_the_login),
        ("writer: deregister", writer_deregisters),
    ]


for name, fn in auth_checks() if AUTH else PLAIN:
    check(name, fn)

print(f"{passed} passed, {failed} failed")
sys.stdout.flush()
# The client's subscription timers are not daemon threads: leave without waiting for them.
os._exit(1 if failed else 0)
