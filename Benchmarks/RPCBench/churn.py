#!/usr/bin/env python3
"""Connection churn: what opening and closing N connections costs the server.

    Benchmarks/RPCBench/churn.py [--server BINARY] [--counts 1000,5000,10000]

Starts the release rpcbench-souk-server (built by run.sh, or `swift build -c release
--product rpcbench-souk-server` here), then for each N opens N connections from one
client process (each sends the preface and reads the server's, so that every one is
served), closes them all, and waits until the server's CPU time stops moving. Prints
the server's CPU time per connection (utime + stime from /proc, open and close
together), the wall time to open them, and the time the server took to settle after
the close. A per-connection timer would make both grow with N; flat is the goal.
"""
import argparse
import os
import re
import socket
import subprocess
import time
from pathlib import Path

PREFACE = b"SOUKRPC\x01"


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 0.3, limit: float = 60.0) -> float:
    """Seconds until the server's CPU time stays unchanged for ``quiet`` seconds."""
    start = time.monotonic()
    last = cpu_seconds(pid)
    still_since = time.monotonic()
    while time.monotonic() - start < limit:
        time.sleep(0.05)
        now = cpu_seconds(pid)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return still_since - start
    return limit


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=str(here / ".build/release/rpcbench-souk-server"),
                        help="the server binary (default: the release rpcbench-souk-server)")
    parser.add_argument("--counts", default="1000,5000,10000")
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",")]
    server = subprocess.Popen([args.server, "--max-connections-per-peer", str(max(counts) + 10)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(re.search(rb"(\d+)\s*$", server.stdout.readline()).group(1))
        print(f"{'connections':>11} {'server CPU/conn':>16} {'open (wall)':>12} {'settle after close':>19}")
        for count in counts:
            settle(server.pid)
            cpu_before = cpu_seconds(server.pid)
            start = time.monotonic()
            sockets = []
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(PREFACE)
                sockets.append(sock)
            for sock in sockets:
                assert sock.recv(8) == PREFACE
            opened = time.monotonic() - start
            for sock in sockets:
                sock.close()
            settled = settle(server.pid)
            per_connection = (cpu_seconds(server.pid) - cpu_before) / count
            print(f"{count:>11} {per_connection * 1e6:>13.1f} µs {opened:>10.2f} s {settled:>17.2f} s")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
