"""Graceful handover with nacos-sdk-python 3.2.0 (part of tests/interop/java_run.sh).

Usage:
    handover.py --provider SERVERS WORK SERVICE IP
        registers IP:8080 in SERVICE through a client given SERVERS ("host:port,host:port"),
        prints REGISTERED, and stays until killed.
    handover.py --watch SERVER WORK SERVICE1:IP1 [SERVICE2:IP2 ...]
        subscribes to each service through a client of SERVER alone, and polls SERVER's v1
        instance list of each every 10 ms; prints WATCHING once each instance was seen both
        ways, then, when standard input closes, one JSON line: for each service, how many
        polls and pushes there were and how many of them missed its instance after it was
        first seen.
"""

import asyncio
import json
import os
import sys
import urllib.request

from v2.nacos import (ClientConfigBuilder, GRPCConfig, NacosNamingService,
                      RegisterInstanceParam, SubscribeServiceParam)


async def naming(servers, work, name):
    log_dir = os.path.join(work, name)
    config = (ClientConfigBuilder()
              .server_address(servers)
              .namespace_id("")
              .log_dir(log_dir)
              .cache_dir(os.path.join(log_dir, "cache"))
              .grpc_config(GRPCConfig(grpc_timeout=5000, port_offset=1000))
              .build())
    return await NacosNamingService.create_naming_service(config)


async def provider(servers, work, service, ip):
    ns = await naming(servers, work, "handover-provider")
    await ns.register_instance(RegisterInstanceParam(
        service_name=service, ip=ip, port=8080, metadata={"who": "py-provider"}))
    print("REGISTERED", flush=True)
    await asyncio.sleep(3600)


def listed(server, service):
    url = f"http://{server}/nacos/v1/ns/instance/list?serviceName={service}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return {h["ip"] for h in json.load(answer)["hosts"]}


async def watch(server, work, targets):
    ns = await naming(server, work, "handover-watcher")
    stats = {s: {"polls": 0, "poll_misses": 0, "pushes": 0, "push_misses": 0,
                 "seen_polled": False, "seen_pushed": False} for s, _ in targets}

    def note(service, ip, way, present):
        """Counts one look (`push` or `poll`) at `service`, and a miss once `ip` was seen."""
        st = stats[service]
        st[f"{way}es" if way == "push" else f"{way}s"] += 1
        if present:
            st[f"seen_{way}ed"] = True
        elif st[f"seen_{way}ed"]:
            st[f"{way}_misses"] += 1
            print(f"MISSING {service} {ip} in a {way}", flush=True)

    def recorder(service, ip):
        async def on_change(instances):
            note(service, ip, "push", any(i.ip == ip for i in instances))
        return on_change

    for service, ip in targets:
        await ns.subscribe(SubscribeServiceParam(
            service_name=service, subscribe_callback=recorder(service, ip)))

    done = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    announced = False
    while not done.done():
        for service, ip in targets:
            try:
                present = ip in listed(server, service)
            except OSError as e:
                print(f"poll failed: {e}", flush=True)
                continue
            note(service, ip, "poll", present)
        if not announced and all(s["seen_polled"] and s["seen_pushed"] for s in stats.values()):
            print("WATCHING", flush=True)
            announced = True
        await asyncio.sleep(0.01)
    print(json.dumps(stats), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "--provider":
        servers, work, service, ip = sys.argv[2:6]
        asyncio.run(provider(servers, work, service, ip))
    elif mode == "--watch":
        server, work = sys.argv[2:4]
        targets = [tuple(t.split(":", 1)) for t in sys.argv[4:]]
        asyncio.run(watch(server, work, targets))
        # The client's threads would keep the process alive.
        os._exit(0)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
