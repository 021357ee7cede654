"""The control plane with nacos-sdk-python 3.2.0 (its Nacos 2.x client, `v2.nacos`, over gRPC)
against a nacre-server this script starts and stops itself (with --data-dir, so the control
plane keeps namespaces and the operator's overrides).

Usage: nacos_v2_control.py SERVER_BIN WORK_DIR
       nacos_v2_control.py --provider HOST:PORT WORK_DIR   (internal: the provider process)

A persistent instance registered over gRPC (`PersistentInstanceRequest`) is a write through
the control plane's log: still listed after the server restarts, with no client registering it
again, and gone once the client deregisters it.

Namespaces: a namespace created with `POST /nacos/v1/console/namespaces` is listed with its
name; a client whose `namespace_id` is its id registers, lists and is pushed there, and nothing
of it shows in `public`; the namespace's detail counts nothing wrong.

An operator's edit outlives its client's re-registrations, for an instance a provider
*process* registers over gRPC:
- disabled with `PUT /nacos/v1/ns/instance?enabled=false`: a subscribed consumer is pushed
  its departure;
- the server restarts (SIGTERM, then the same port and data directory): the provider's client
  loses its connection, reconnects and registers again; the instance is back, still disabled,
  and the consumer still lists nothing;
- the provider process is killed (SIGKILL) and started again: its new registration is still
  disabled;
- `PATCH weight=7` holds over the next restart of the provider too;
- enabled again with `PUT enabled=true`: the consumer is pushed it.

Prints one line per check, then `N passed, M failed`; exits 1 if any check failed. Every
process it started is stopped by its pid, whatever happens.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from v2.nacos import (ClientConfigBuilder, DeregisterInstanceParam, GRPCConfig,
                      ListInstanceParam, NacosNamingService, RegisterInstanceParam,
                      SubscribeServiceParam)

from checks import check, expect, failed, summary
from checks import wait_until as poll_until


async def wait_until(what, cond, timeout=30.0):
    """A client's reconnect takes seconds: a longer deadline than the checks' default."""
    await poll_until(what, cond, timeout, step=0.05)


PROVIDER = sys.argv[1] == "--provider"
SERVICE = "drained-py"
IP, PORT = "10.0.0.7", 8080


async def naming(addr, work, name, namespace=""):
    log_dir = os.path.join(work, name)
    config = (ClientConfigBuilder()
              .server_address(addr)
              .namespace_id(namespace)
              .log_dir(log_dir)
              .cache_dir(os.path.join(log_dir, "cache"))
              .grpc_config(GRPCConfig(grpc_timeout=5000, port_offset=1000))
              .build())
    # By default the client keeps its last list when a push empties it; this check wants to
    # see the push.
    config.set_update_cache_when_empty(True)
    return await NacosNamingService.create_naming_service(config)


async def provider(addr, work):
    ns = await naming(addr, work, "provider")
    await ns.register_instance(RegisterInstanceParam(
        service_name=SERVICE, ip=IP, port=PORT, weight=1.0, enabled=True,
        metadata={"who": "provider"}))
    print("REGISTERED", flush=True)
    await asyncio.sleep(600)


def port_pair():
    """A loopback port P with P and P + 1000 (the client's gRPC port) both free."""
    for _ in range(200):
        a = socket.socket()
        a.bind(("127.0.0.1", 0))
        p = a.getsockname()[1]
        if p + 1000 > 65535:
            a.close()
            continue
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", p + 1000))
        except OSError:
            a.close()
            continue
        a.close()
        b.close()
        return p
    raise RuntimeError("no free port pair")


class Server:
    """nacre-server on one port and data directory, restartable, stopped by its pid."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.port = port_pair()
        self.data = os.path.join(work, "data")
        self.proc = None
        self.starts = 0

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.starts += 1
        log_path = os.path.join(self.work, f"server-{self.starts}.log")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--data-dir", self.data],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(log_path) as f:
                if "gRPC on" in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.dump()
        raise RuntimeError("nacre-server did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def dump(self):
        for n in range(1, self.starts + 1):
            path = os.path.join(self.work, f"server-{n}.log")
            print(f"--- {path}", flush=True)
            with open(path) as f:
                print(f.read()[-20000:], flush=True)

    def http(self, method, path, params, form=None):
        query = urllib.parse.urlencode(params)
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"http://{self.addr}{path}?{query}", data=data,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def start_provider(server, work):
    proc = subprocess.Popen(
        [sys.executable, __file__, "--provider", server.addr, work],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    expect("REGISTERED" in line, f"the provider said {line!r}")
    return proc


def stop(proc, sig=signal.SIGKILL):
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        proc.wait(timeout=10)


async def main(binary, work):
    server = Server(binary, work)
    server.start()
    procs = {}
    consumer = None
    target = {"serviceName": SERVICE, "ip": IP, "port": str(PORT)}

    def detail():
        """The instance as the server holds it (enabled or not), or None."""
        status, body = server.http("GET", "/nacos/v1/ns/instance", target)
        return json.loads(body) if status == 200 else None

    try:
        consumer = await naming(server.addr, work, "consumer")
        pushes = []

        async def on_change(instances):
            pushes.append(sorted(f"{i.ip}:{i.port}" for i in instances))

        await consumer.subscribe(SubscribeServiceParam(
            service_name=SERVICE, subscribe_callback=on_change))
        procs["provider"] = start_provider(server, work)
        await wait_until("the provider's instance pushed", lambda: pushes[-1:] == [[f"{IP}:{PORT}"]])

        async def disabled_by_the_operator_and_pushed():
            status, body = server.http("PUT", "/nacos/v1/ns/instance", {**target, "enabled": "false"})
            expect((status, body) == (200, "ok"), f"PUT answered {status} {body}")
            await wait_until("the push without it", lambda: pushes[-1:] == [[]])

        async def still_disabled_after_the_client_reconnects_and_registers_again():
            server.stop()
            server.start()
            # The server kept no ephemeral instance: what shows up is the client's redo.
            await wait_until("the provider's re-registration", lambda: detail() is not None)
            for _ in range(10):
                found = detail()
                expect(found is not None and found["enabled"] is False, f"held {found}")
                await asyncio.sleep(0.1)
            listed = await consumer.list_instances(ListInstanceParam(
                service_name=SERVICE, subscribe=False, healthy_only=None))
            expect(listed == [], f"the consumer lists {listed}")

        async def still_disabled_after_the_client_process_restarts():
            stop(procs.pop("provider"))
            await wait_until("the killed provider's instance gone", lambda: detail() is None)
            procs["provider"] = start_provider(server, work)
            found = detail()
            expect(found is not None and found["enabled"] is False, f"held {found}")

        async def a_patched_weight_holds_over_a_restart_too():
            status, body = server.http("PATCH", "/nacos/v1/ns/instance", {**target, "weight": "7"})
            expect((status, body) == (200, "ok"), f"PATCH answered {status} {body}")
            stop(procs.pop("provider"))
            await wait_until("the killed provider's instance gone", lambda: detail() is None)
            procs["provider"] = start_provider(server, work)
            found = detail()
            expect(found is not None and found["weight"] == 7.0 and found["enabled"] is False,
                   f"held {found}")
            expect(found["metadata"].get("who") == "provider", f"metadata {found['metadata']}")

        async def enabled_again_and_pushed():
            status, body = server.http("PUT", "/nacos/v1/ns/instance",
                                       {**target, "enabled": "true", "weight": "7"})
            expect((status, body) == (200, "ok"), f"PUT answered {status} {body}")
            await wait_until("the push with it", lambda: pushes[-1:] == [[f"{IP}:{PORT}"]])

        async def a_client_in_a_created_namespace():
            status, body = server.http("POST", "/nacos/v1/console/namespaces", {}, {
                "customNamespaceId": "team-py", "namespaceName": "Team Python",
                "namespaceDesc": "made by nacos_v2_control.py"})
            expect((status, body) == (200, "true"), f"create answered {status} {body}")
            team = await naming(server.addr, work, "team", namespace="team-py")
            try:
                seen = []

                async def on_team_change(instances):
                    seen.append(sorted(f"{i.ip}:{i.port}" for i in instances))

                await team.subscribe(SubscribeServiceParam(
                    service_name="team-svc", subscribe_callback=on_team_change))
                await team.register_instance(RegisterInstanceParam(
                    service_name="team-svc", ip="10.9.0.1", port=80))
                await wait_until("the push in team-py", lambda: seen[-1:] == [["10.9.0.1:80"]])
                listed = await team.list_instances(ListInstanceParam(
                    service_name="team-svc", subscribe=False, healthy_only=None))
                expect([f"{i.ip}:{i.port}" for i in listed] == ["10.9.0.1:80"], f"{listed}")
                # Nothing of it in public.
                status, body = server.http("GET", "/nacos/v1/ns/instance/list",
                                           {"serviceName": "team-svc"})
                expect(status == 200 and json.loads(body)["hosts"] == [], f"public: {body}")
                status, body = server.http("GET", "/nacos/v1/ns/instance/list",
                                           {"serviceName": "team-svc", "namespaceId": "team-py"})
                expect(status == 200 and len(json.loads(body)["hosts"]) == 1, f"team-py: {body}")
                # The namespace API lists it with its name, and shows it alone.
                status, body = server.http("GET", "/nacos/v1/console/namespaces", {})
                rows = {r["namespace"]: r for r in json.loads(body)["data"]}
                expect(rows.get("team-py", {}).get("namespaceShowName") == "Team Python",
                       f"listed {body}")
                status, body = server.http("GET", "/nacos/v1/console/namespaces",
                                           {"show": "all", "namespaceId": "team-py"})
                one = json.loads(body)
                expect(status == 200 and one["namespaceDesc"] == "made by nacos_v2_control.py",
                       f"detail {status} {body}")
            finally:
                await asyncio.wait_for(team.shutdown(), 10)

        async def a_persistent_instance_is_kept_on_the_log_and_deregistered():
            db = {"service_name": "db-py", "ip": "10.9.0.9", "port": 5432, "ephemeral": False}

            def hosts():
                status, body = server.http("GET", "/nacos/v1/ns/instance/list",
                                           {"serviceName": "db-py"})
                if status != 200:
                    return None
                return [(h["ip"], h["port"], h["ephemeral"]) for h in json.loads(body)["hosts"]]

            await consumer.register_instance(RegisterInstanceParam(**db))
            await wait_until("the persistent instance listed",
                             lambda: hosts() == [("10.9.0.9", 5432, False)])
            server.stop()
            server.start()
            # No client registers it again: the control plane's log kept it.
            expect(hosts() == [("10.9.0.9", 5432, False)], f"after a restart: {hosts()}")

            async def deregistered():
                try:
                    await consumer.deregister_instance(DeregisterInstanceParam(**db))
                except (Exception, asyncio.CancelledError):
                    pass  # the client may still be reconnecting: its call is cut
                return hosts() == []

            deadline = time.monotonic() + 30
            while not await deregistered():
                expect(time.monotonic() < deadline, f"never deregistered: {hosts()}")
                await asyncio.sleep(0.2)

        await check("a client in a namespace created through the namespace API",
                    a_client_in_a_created_namespace)
        await check("disabled by the operator, and that is pushed",
                    disabled_by_the_operator_and_pushed)
        await check("still disabled after the client reconnects and registers again",
                    still_disabled_after_the_client_reconnects_and_registers_again)
        await check("still disabled after the client process restarts",
                    still_disabled_after_the_client_process_restarts)
        await check("a patched weight holds over a client restart too",
                    a_patched_weight_holds_over_a_restart_too)
        await check("enabled again by the operator, and that is pushed", enabled_again_and_pushed)
        # Last: it restarts the server too.
        await check("a persistent instance (gRPC) is kept on the log over a restart, "
                    "and deregistered", a_persistent_instance_is_kept_on_the_log_and_deregistered)
    finally:
        for proc in procs.values():
            stop(proc)
        if consumer is not None:
            try:
                await asyncio.wait_for(consumer.shutdown(), 10)
            except Exception:  # noqa: BLE001 - shutting down is best effort
                pass
        server.stop()
        if failed():
            server.dump()
    return summary()


if __name__ == "__main__":
    if PROVIDER:
        asyncio.run(provider(sys.argv[2], sys.argv[3]))
        sys.exit(0)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
