"""Drives a running nacre-server over gRPC with the Python Nacos 2.x/3.x client
(nacos-sdk-python 3.2.0, package `v2.nacos`).

Usage: nacos_v2_interop.py HOST:PORT WORK_DIR          (the client finds gRPC at PORT + 1000)
       nacos_v2_interop.py --auth HOST:PORT WORK_DIR      (a server with auth on)
       nacos_v2_interop.py --tls HOST:PORT WORK_DIR CERTS (a server with mutual TLS)
       nacos_v2_interop.py --provider HOST:PORT WORK_DIR  (internal: the provider process)

Checks: register and list; subscribe and be pushed within 1 s of a registration made by
another client *process*; a v1 HTTP registration pushed to the gRPC subscriber; batch
registration; the service list; the provider process killed with SIGKILL, after which its
instance disappears and the change is pushed.

With --auth, three identities against one server (the users of tests/interop/lib.sh, from the
environment; the client logs in over HTTP and sends the token in each request's headers): a
writer registers, lists and is pushed a change; a reader lists, subscribes and is pushed the
writer's change, and its registration and deregistration are refused (NacosException, error
code 403) and change nothing; a client without
credentials can do nothing (403); a client with a wrong password neither (its login is refused,
so the client raises its own error, code 500 "get access token failed", and sends nothing).

With --tls, against a server with --tls-cert, --tls-key and --tls-client-ca (the files of
examples/cert_gen.rs in CERTS): a client with TLS on (its TLSConfig: the CA, its certificate
and key) registers, lists, is pushed another client's registration and deregisters over the
TLS gRPC port; a client presenting a certificate of another CA, and one in plaintext, cannot
register (the client is created, keeps failing to connect, and its registration raises).

Prints one line per check, then `N passed, M failed`; exits 1 if any check failed.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from v2.nacos import (BatchRegisterInstanceParam, ClientConfigBuilder, DeregisterInstanceParam,
                      GRPCConfig, ListInstanceParam, ListServiceParam, NacosNamingService,
                      RegisterInstanceParam, SubscribeServiceParam, TLSConfig)
from v2.nacos.common.nacos_exception import NacosException

from checks import check, expect, summary, wait_until

MODE = sys.argv[1] if sys.argv[1] in ("--provider", "--auth", "--tls") else None
PROVIDER = MODE == "--provider"
ADDR, WORK = sys.argv[2:4] if MODE else sys.argv[1:3]
CERTS = sys.argv[4] if MODE == "--tls" else None
SERVICE = "orders-py"

async def naming(name, username=None, password=None, tls=None, grpc_timeout=5000,
                 endpoint=None):
    log_dir = os.path.join(WORK, name)
    builder = ClientConfigBuilder()
    # An endpoint instead of a server list: the client asks {endpoint}/nacos/serverlist.
    builder = builder.endpoint(endpoint) if endpoint else builder.server_address(ADDR)
    builder = (builder
               .namespace_id("")
               .log_dir(log_dir)
               .cache_dir(os.path.join(log_dir, "cache"))
               .grpc_config(GRPCConfig(grpc_timeout=grpc_timeout, port_offset=1000)))
    if username:
        builder = builder.username(username).password(password)
    if tls:
        builder = builder.tls_config(tls)
    return await NacosNamingService.create_naming_service(builder.build())


async def provider():
    ns = await naming("provider")
    await ns.register_instance(RegisterInstanceParam(
        service_name=SERVICE, ip="10.0.0.1", port=8080, metadata={"who": "provider"}))
    print("REGISTERED", flush=True)
    await asyncio.sleep(300)


def endpoints(instances):
    return sorted(f"{i.ip}:{i.port}" for i in instances)


async def main():
    consumer = await naming("consumer")
    pushes = []  # (monotonic time, [ip:port])

    async def on_change(instances):
        pushes.append((time.monotonic(), endpoints(instances)))

    def last():
        return pushes[-1][1] if pushes else None

    state = {}

    async def subscribe():
        await consumer.subscribe(SubscribeServiceParam(
            service_name=SERVICE, subscribe_callback=on_change))

    async def pushed_within_1s_of_another_process_registering():
        proc = subprocess.Popen(
            [sys.executable, __file__, "--provider", ADDR, WORK],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        state["provider"] = proc
        loop = asyncio.get_running_loop()
        line = await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.readline), 30)
        registered = time.monotonic()
        expect("REGISTERED" in line, f"the provider said {line!r}")
        await wait_until("the push", lambda: last() == ["10.0.0.1:8080"])
        at = next(t for t, ips in pushes if ips == ["10.0.0.1:8080"])
        latency = max(0.0, at - registered)
        print(f"     push latency {latency * 1000:.0f} ms", flush=True)
        expect(latency < 1.0, f"pushed {latency:.3f} s after the registration")

    async def list_instances():
        found = await consumer.list_instances(ListInstanceParam(
            service_name=SERVICE, subscribe=False, healthy_only=None))
        expect(endpoints(found) == ["10.0.0.1:8080"], f"listed {endpoints(found)}")
        expect(all(i.healthy for i in found), "healthy")
        expect(found[0].metadata.get("who") == "provider", f"metadata {found[0].metadata}")

    async def v1_registration_is_pushed():
        data = urllib.parse.urlencode(
            {"serviceName": SERVICE, "ip": "10.0.0.2", "port": "8080"}).encode()
        with urllib.request.urlopen(f"http://{ADDR}/nacos/v1/ns/instance", data=data) as r:
            expect(r.status == 200, f"status {r.status}")
        await wait_until("the push", lambda: last() == ["10.0.0.1:8080", "10.0.0.2:8080"])

    async def batch_register_and_service_list():
        await consumer.batch_register_instances(BatchRegisterInstanceParam(
            service_name="payments-py",
            instances=[RegisterInstanceParam(service_name="payments-py", ip=ip, port=9090)
                       for ip in ("10.0.1.1", "10.0.1.2")]))
        found = await consumer.list_instances(ListInstanceParam(
            service_name="payments-py", subscribe=False, healthy_only=None))
        expect(endpoints(found) == ["10.0.1.1:9090", "10.0.1.2:9090"], endpoints(found))
        page = await consumer.list_services(ListServiceParam(page_no=1, page_size=10))
        expect(page.count == 2, f"count {page.count}")
        expect(sorted(page.services) == [SERVICE, "payments-py"], f"services {page.services}")

    async def a_killed_provider_process_leaves_and_that_is_pushed():
        proc = state["provider"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        await wait_until("the push of its departure", lambda: last() == ["10.0.0.2:8080"],
                         timeout=30)
        found = await consumer.list_instances(ListInstanceParam(
            service_name=SERVICE, subscribe=False, healthy_only=None))
        expect(endpoints(found) == ["10.0.0.2:8080"], f"listed {endpoints(found)}")

    await check("subscribe", subscribe)
    await check("pushed within 1 s of another process registering",
                pushed_within_1s_of_another_process_registering)
    await check("list instances", list_instances)
    await check("a v1 HTTP registration is pushed over gRPC", v1_registration_is_pushed)
    await check("batch register and service list", batch_register_and_service_list)
    await check("a killed provider process leaves, and that is pushed",
                a_killed_provider_process_leaves_and_that_is_pushed)

    async def a_client_given_an_endpoint_finds_the_server():
        with urllib.request.urlopen(f"http://{ADDR}/nacos/serverlist") as r:
            listed = r.read().decode().split()
        expect(listed == [ADDR], f"/nacos/serverlist listed {listed}")
        found_by_endpoint = await naming("by-endpoint", endpoint=f"http://{ADDR}")
        try:
            await found_by_endpoint.register_instance(RegisterInstanceParam(
                service_name="found-py", ip="10.0.3.1", port=80))
            found = await consumer.list_instances(ListInstanceParam(
                service_name="found-py", subscribe=False, healthy_only=None))
            expect(endpoints(found) == ["10.0.3.1:80"], f"listed {endpoints(found)}")
        finally:
            await asyncio.wait_for(found_by_endpoint.shutdown(), 10)

    await check("a client given an endpoint finds the server through /nacos/serverlist",
                a_client_given_an_endpoint_finds_the_server)
    proc = state.get("provider")
    if proc and proc.poll() is None:
        proc.kill()
    await consumer.shutdown()
    return summary()


async def expect_refused(what, coro, code=403):
    """`coro` must raise a NacosException with error code `code`."""
    try:
        await coro
    except NacosException as e:
        print(f"     {what}: {e}", flush=True)
        expect(e.error_code == code, f"{what}: error code {e.error_code}, expected {code}: {e}")
    else:
        raise AssertionError(f"{what} was not refused")


async def auth_main():
    service = "secured-py"
    writer = await naming("writer", os.environ["NACRE_WRITER"],
                          os.environ["NACRE_WRITER_PASSWORD"])
    reader = await naming("reader", os.environ["NACRE_READER"],
                          os.environ["NACRE_READER_PASSWORD"])
    nobody = await naming("nobody")
    writer_pushes = []
    reader_pushes = []

    def last(pushes):
        return pushes[-1] if pushes else None

    def recorder(pushes):
        async def on_change(instances):
            pushes.append(endpoints(instances))
        return on_change

    def register(ns, ip):
        return ns.register_instance(RegisterInstanceParam(service_name=service, ip=ip, port=8080))

    def deregister(ns, ip):
        return ns.deregister_instance(
            DeregisterInstanceParam(service_name=service, ip=ip, port=8080))

    def listed(ns):
        return ns.list_instances(ListInstanceParam(
            service_name=service, subscribe=False, healthy_only=None))

    # What the server holds, over v1 HTTP with a token of the writer's: once a client has
    # subscribed, list_instances answers from its cache, which ignores a push of no instances.
    login = urllib.parse.urlencode({"username": os.environ["NACRE_WRITER"],
                                    "password": os.environ["NACRE_WRITER_PASSWORD"]})
    with urllib.request.urlopen(f"http://{ADDR}/nacos/v1/auth/login?{login}", data=b"") as r:
        token = json.load(r)["accessToken"]

    def held():
        query = urllib.parse.urlencode({"serviceName": service, "accessToken": token})
        with urllib.request.urlopen(f"http://{ADDR}/nacos/v1/ns/instance/list?{query}") as r:
            return sorted(f"{h['ip']}:{h['port']}" for h in json.load(r)["hosts"])

    async def writer_registers_lists_and_is_pushed():
        expect(await register(writer, "10.6.0.1") is True, "register")
        expect(endpoints(await listed(writer)) == ["10.6.0.1:8080"], "listed")
        await writer.subscribe(SubscribeServiceParam(
            service_name=service, subscribe_callback=recorder(writer_pushes)))
        expect(await register(writer, "10.6.0.2") is True, "second register")
        await wait_until("the writer's push",
                         lambda: last(writer_pushes) == ["10.6.0.1:8080", "10.6.0.2:8080"])
        page = await writer.list_services(ListServiceParam(page_no=1, page_size=10))
        expect(page.services == [service], f"services {page.services}")

    async def reader_lists_subscribes_and_is_pushed():
        found = await listed(reader)
        expect(endpoints(found) == ["10.6.0.1:8080", "10.6.0.2:8080"], endpoints(found))
        await reader.subscribe(SubscribeServiceParam(
            service_name=service, subscribe_callback=recorder(reader_pushes)))
        expect(await deregister(writer, "10.6.0.2") is True, "the writer's deregister")
        await wait_until("the reader's push", lambda: last(reader_pushes) == ["10.6.0.1:8080"])
        await wait_until("the writer's push", lambda: last(writer_pushes) == ["10.6.0.1:8080"])

    async def reader_cannot_register_or_deregister():
        await expect_refused("the reader's register", register(reader, "10.6.0.9"))
        await expect_refused("the reader's deregister", deregister(reader, "10.6.0.1"))
        expect(held() == ["10.6.0.1:8080"], f"the server holds {held()}")

    async def nobody_can_do_nothing():
        await expect_refused("list without credentials", listed(nobody))
        await expect_refused("register without credentials", register(nobody, "10.6.0.8"))
        await expect_refused("subscribe without credentials", nobody.subscribe(
            SubscribeServiceParam(service_name=service, subscribe_callback=recorder([]))))
        # nacre's refusal carries the `count` and `serviceNames` this client's model requires
        # (as Nacos' does), so it reports the 403.
        await expect_refused("the service list without credentials", nobody.list_services(
            ListServiceParam(page_no=1, page_size=10)))
        expect(held() == ["10.6.0.1:8080"], f"the server holds {held()}")

    async def wrong_password_is_refused():
        # Last: failed logins count against this address. The client logs in again before
        # each request; when that fails it raises its own error and sends nothing.
        wrong = await naming("wrong", os.environ["NACRE_WRITER"], "wrong")
        try:
            await expect_refused("list with a wrong password", listed(wrong), code=500)
            await expect_refused("register with a wrong password", register(wrong, "10.6.0.7"),
                                 code=500)
        finally:
            await wrong.shutdown()
        expect(held() == ["10.6.0.1:8080"], f"the server holds {held()}")

    async def writer_deregisters():
        expect(await deregister(writer, "10.6.0.1") is True, "deregister")
        expect(held() == [], f"the server holds {held()}")

    await check("writer: register, list, subscribe and be pushed, the service list",
                writer_registers_lists_and_is_pushed)
    await check("reader: list, subscribe and be pushed the writer's change",
                reader_lists_subscribes_and_is_pushed)
    await check("reader: register and deregister are refused with 403",
                reader_cannot_register_or_deregister)
    await check("no credentials: list, register, subscribe refused with 403, the service list fails",
                nobody_can_do_nothing)
    await check("wrong password: list and register fail", wrong_password_is_refused)
    await check("writer: deregister", writer_deregisters)
    return summary()


def tls_config(who):
    """TLS on, trusting the CA, presenting `who`.pem and `who`.key (client or stranger)."""
    return TLSConfig(enabled=True, ca_file=os.path.join(CERTS, "ca.pem"),
                     cert_file=os.path.join(CERTS, f"{who}.pem"),
                     key_file=os.path.join(CERTS, f"{who}.key"))


async def tls_main():
    service = "tls-py"
    provider = await naming("tls-provider", tls=tls_config("client"))
    consumer = await naming("tls-consumer", tls=tls_config("client"))
    pushes = []

    async def on_change(instances):
        pushes.append(endpoints(instances))

    def listed(ns):
        return ns.list_instances(ListInstanceParam(
            service_name=service, subscribe=False, healthy_only=None))

    async def register_list_push_deregister():
        await consumer.subscribe(SubscribeServiceParam(
            service_name=service, subscribe_callback=on_change))
        expect(await provider.register_instance(RegisterInstanceParam(
            service_name=service, ip="10.8.0.1", port=8080)) is True, "register")
        await wait_until("the push", lambda: pushes and pushes[-1] == ["10.8.0.1:8080"])
        expect(endpoints(await listed(provider)) == ["10.8.0.1:8080"], "listed")
        expect(await provider.register_instance(RegisterInstanceParam(
            service_name=service, ip="10.8.0.2", port=8080)) is True, "second register")
        await wait_until("the second push",
                         lambda: pushes[-1] == ["10.8.0.1:8080", "10.8.0.2:8080"])
        expect(await provider.deregister_instance(DeregisterInstanceParam(
            service_name=service, ip="10.8.0.2", port=8080)) is True, "deregister")
        await wait_until("the push of the deregistration",
                         lambda: pushes[-1] == ["10.8.0.1:8080"])

    async def cannot_register(what, tls):
        # The client is created (it keeps trying to connect in the background), and what it
        # sends fails. It tries three times when created, each time waiting the gRPC timeout
        # for the channel: 1 s here.
        ns = await naming(what, tls=tls, grpc_timeout=1000)
        try:
            await asyncio.wait_for(ns.register_instance(RegisterInstanceParam(
                service_name=service, ip="10.8.0.9", port=8080)), 60)
        except NacosException as e:
            print(f"     {what}: {str(e).splitlines()[0]}", flush=True)
        else:
            raise AssertionError(f"{what}: registered")
        finally:
            await ns.shutdown()

    async def strangers_and_plaintext_cannot_register():
        await cannot_register("a certificate of another CA", tls_config("stranger"))
        await cannot_register("plaintext", None)
        expect(endpoints(await listed(provider)) == ["10.8.0.1:8080"], "nothing else landed")

    await check("TLS with a client certificate: register, list, be pushed, deregister",
                register_list_push_deregister)
    await check("a certificate of another CA, and plaintext, cannot register",
                strangers_and_plaintext_cannot_register)
    return summary()


if PROVIDER:
    asyncio.run(provider())
else:
    code = asyncio.run({"--auth": auth_main, "--tls": tls_main}.get(MODE, main)())
    # The client's background tasks may linger: leave at once.
    os._exit(code)
