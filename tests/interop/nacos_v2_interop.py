"""Drives a running nacre-server over gRPC with the Python Nacos 2.x/3.x client
(nacos-sdk-python 3.2.0, package `v2.nacos`).

Usage: nacos_v2_interop.py HOST:PORT WORK_DIR          (the client finds gRPC at PORT + 1000)
       nacos_v2_interop.py --provider HOST:PORT WORK_DIR  (internal: the provider process)

Checks: register and list; subscribe and be pushed within 1 s of a registration made by
another client *process*; a v1 HTTP registration pushed to the gRPC subscriber; batch
registration; the service list; the provider process killed with SIGKILL, after which its
instance disappears and the change is pushed. Prints one line per check, then
`N passed, M failed`; exits 1 if any check failed.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import traceback
import urllib.parse
import urllib.request

from v2.nacos import (BatchRegisterInstanceParam, ClientConfigBuilder, GRPCConfig,
                      ListInstanceParam, ListServiceParam, NacosNamingService,
                      RegisterInstanceParam, SubscribeServiceParam)

PROVIDER = sys.argv[1] == "--provider"
ADDR = sys.argv[2] if PROVIDER else sys.argv[1]
WORK = sys.argv[3] if PROVIDER else sys.argv[2]
SERVICE = "orders-py"

passed = 0
failed = 0


async def check(name, coro_fn):
    """Runs one check; an AssertionError or any exception fails it."""
    global passed, failed
    try:
        await coro_fn()
    except Exception:  # noqa: BLE001 - every failure counts
        failed += 1
        print(f"FAIL {name}", flush=True)
        traceback.print_exc(file=sys.stdout)
    else:
        passed += 1
        print(f"ok   {name}", flush=True)


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


async def wait_until(what, cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def naming(name):
    log_dir = os.path.join(WORK, name)
    config = (ClientConfigBuilder()
              .server_address(ADDR)
              .namespace_id("")
              .log_dir(log_dir)
              .cache_dir(os.path.join(log_dir, "cache"))
              .grpc_config(GRPCConfig(grpc_timeout=5000, port_offset=1000))
              .build())
    return await NacosNamingService.create_naming_service(config)


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
    proc = state.get("provider")
    if proc and proc.poll() is None:
        proc.kill()
    await consumer.shutdown()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if PROVIDER:
    asyncio.run(provider())
else:
    code = asyncio.run(main())
    # The client's background tasks may linger: leave at once.
    os._exit(code)
