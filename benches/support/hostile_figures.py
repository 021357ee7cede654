#!/usr/bin/env python3
"""Figures for RELIABILITY.md's hostile-client table, at the scale the issue reported them:
runs a nacre-server binary (the path is the first argument; the release build by default),
makes each attack on loopback, and prints what the server held. Standard library only.

    python3 benches/support/hostile_figures.py target/release/nacre-server
"""
import os
import re
import socket
import subprocess
import sys
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/nacre-server"


def start(*args):
    proc = subprocess.Popen([BIN, "--port", "0", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "RUST_LOG": "info"})
    for line in proc.stderr:
        if "listening on" in line:
            http = re.search(r"listening on (\S+) ", line).group(1)
            grpc = re.search(r"gRPC on ([^\s,]+)", line).group(1)
            return proc, addr(http), addr(grpc)
    raise SystemExit("nacre-server did not start")


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def fds(proc):
    return len(os.listdir(f"/proc/{proc.pid}/fd"))


def rss_kib(proc):
    with open(f"/proc/{proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def closed(sock, wait):
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def liveness(http, host="127.0.0.1"):
    try:
        with socket.create_connection(http, timeout=10) as s:
            s.sendall(f"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: {host}\r\n"
                      "Connection: close\r\n\r\n".encode())
            return s.recv(12).decode(errors="replace")[9:12] or "closed"
    except OSError as e:
        return f"error {e.errno}"


def idle_grpc(n=5000):
    proc, http, grpc = start()
    base = fds(proc)
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(grpc, timeout=5))
        except OSError:
            break
    time.sleep(1)
    held = fds(proc) - base
    print(f"{n} idle gRPC sockets: {held} held by the server after 1 s; v1 liveness {liveness(http)}")
    time.sleep(33)
    print(f"  after 34 s (setup timeout 30 s): {fds(proc) - base} held")
    for s in socks:
        s.close()
    proc.kill()


def console_streams(n=10000):
    proc, http, _ = start()
    base, rss = fds(proc), rss_kib(proc)
    socks, statuses = [], {}
    for _ in range(n):
        try:
            s = socket.create_connection(http, timeout=5)
            s.sendall(b"GET /console/api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = s.recv(12).decode(errors="replace")[9:12] or "closed"
        except OSError:
            status = "error"
        statuses[status] = statuses.get(status, 0) + 1
        socks.append(s)
    time.sleep(1)
    print(f"{n} console event streams: {statuses}; server holds {fds(proc) - base} more "
          f"descriptors, RSS +{rss_kib(proc) - rss} KiB; v1 liveness {liveness(http)}")
    for s in socks:
        s.close()
    proc.kill()


def rebinding():
    proc, http, _ = start()
    print(f"Host: evil.example on a loopback bind: v1 liveness {liveness(http, 'evil.example')}, "
          f"Host: 127.0.0.1: {liveness(http)}")
    proc.kill()


if __name__ == "__main__":
    idle_grpc()
    console_streams()
    rebinding()
