"""A provider process for the console's timeline check: nacos-sdk-python 3.2.0 (its Nacos 2.x
client, over gRPC) registers 10.0.0.9:9090 in service `story` of nacre-server at HOST:PORT, whose
gRPC port is HOST:PORT + OFFSET, prints REGISTERED, and keeps its client alive (beating through
its connection, redoing its registration after a reconnect) until it is killed.

Usage: grpc_provider.py HOST:PORT OFFSET LOG_DIR
"""

import asyncio
import os
import sys

from v2.nacos import ClientConfigBuilder, GRPCConfig, NacosNamingService, RegisterInstanceParam


async def main(addr, offset, log_dir):
    config = (ClientConfigBuilder()
              .server_address(addr)
              .log_dir(log_dir)
              .cache_dir(os.path.join(log_dir, "cache"))
              .grpc_config(GRPCConfig(grpc_timeout=5000, port_offset=offset))
              .build())
    naming = await NacosNamingService.create_naming_service(config)
    await naming.register_instance(RegisterInstanceParam(
        service_name="story", ip="10.0.0.9", port=9090, weight=1.0, enabled=True))
    print("REGISTERED", flush=True)
    await asyncio.sleep(3600)


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
