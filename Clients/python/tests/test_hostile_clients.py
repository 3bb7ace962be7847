"""The real server process against hostile clients, measured from outside: its
resident memory (VmRSS in /proc) after many connections, after partial frames,
and while clients never read their answers; another client's calls meanwhile.

The bounds asserted here are the ones PROTOCOL.md section 9 documents.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from souk_rpc import framing
from souk.test.v1 import interop_pb2  # noqa: E402  (generated; on sys.path through souk_rpc)

from conftest import interop_server_binary

UNARY_CALL = "/souk.test.v1.InteropService/UnaryCall"
MIB = 1024 * 1024


def rss_mib(server) -> float:
    with open(f"/proc/{server.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def settle(server, seconds: float = 3.0) -> float:
    """RSS once the server has let go: the lowest reading over ``seconds``."""
    lowest = rss_mib(server)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        lowest = min(lowest, rss_mib(server))
    return lowest


def open_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that sent their preface and read the server's."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(framing.CLIENT_PREFACE)
        sockets.append(sock)
    for sock in sockets:
        assert sock.recv(8) == framing.CLIENT_PREFACE[:7] + bytes([1])
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def timed_call(server, request: interop_pb2.SimpleRequest, timeout: float = 10) -> float:
    start = time.monotonic()
    with server.connect() as conn:
        response = conn.call(UNARY_CALL, request, interop_pb2.SimpleResponse, timeout=timeout)
    assert response.payload == request.payload
    return time.monotonic() - start


def test_help_says_what_the_server_hosts_and_exits_zero():
    result = subprocess.run([str(interop_server_binary()), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "souk.test.v1.InteropService" in result.stdout
    assert "--max-connections-per-peer" in result.stdout


def test_ten_thousand_connections_opened_and_closed_leave_no_memory_behind(start_server):
    server = start_server("--max-connections", "20000", "--max-connections-per-peer", "20000")
    # Warm up the allocator and the event loops with a first round.
    close_all(open_connections(server.port, 1000))
    before = settle(server)
    for _ in range(10):
        close_all(open_connections(server.port, 1000))
    after = settle(server)
    print(f"\n10,000 connections: RSS {before:.1f} -> {after:.1f} MiB")
    # Before: about 7 KiB kept per closed connection, 70 MiB for these.
    assert after - before < 8, f"RSS went from {before:.1f} to {after:.1f} MiB over 10,000 connections"
    # And it still serves.
    timed_call(server, interop_pb2.SimpleRequest(payload=b"still here"))


def test_connections_closed_in_the_middle_of_4_mib_frames_leave_no_memory_behind(start_server):
    server = start_server("--max-connections-per-peer", "1000")
    # A request frame just under the 4 MiB limit, sent but for its last byte.
    partial = framing.request_frame(1, UNARY_CALL, b"\x00" * (4 * MIB - 100))[:-1]
    timed_call(server, interop_pb2.SimpleRequest(payload=b"warm"))
    before = settle(server, 1.0)
    peak = before
    for _ in range(4):
        sockets = open_connections(server.port, 50)
        for sock in sockets:
            try:
                sock.sendall(partial)
            except OSError:
                pass  # refused: the incomplete-frame budget was full
        peak = max(peak, rss_mib(server))
        close_all(sockets)
    after = settle(server)
    print(f"\n200 partial 4 MiB frames: RSS {before:.1f} -> peak {peak:.1f} -> {after:.1f} MiB")
    # 256 MiB of incomplete frames at most (the default budget), plus what each connection holds uncounted.
    assert peak - before < 256 + 50 * 0.0625 + 32, f"peak RSS {peak:.1f} MiB from {before:.1f}"
    assert after - before < 8, f"RSS went from {before:.1f} to {after:.1f} MiB (peak {peak:.1f})"


DEAF_CLIENT = r"""
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
frame = sys.stdin.buffer.read()
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
sock.settimeout(None)
sock.sendall(b"SOUKRPC\x01")
for _ in range(count):
    sock.sendall(frame)  # blocks for good once the server stops reading: it is killed then
print("all sent", flush=True)
sock.recv(1)  # never reads more than this, and only after everything was sent
"""


class DeafClient:
    """Sends requests (or pings) as fast as the server takes them and never reads, from a
    process of its own (so that it shares no interpreter lock with the calls measured)."""

    def __init__(self, port: int, frame: bytes, count: int):
        self.proc = subprocess.Popen([sys.executable, "-c", DEAF_CLIENT, str(port), str(count)],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.proc.stdin.write(frame)
        self.proc.stdin.close()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.mark.parametrize("kind", ["unread 4 MB answers", "unread pongs"])
def test_a_client_that_never_reads_keeps_the_server_under_its_bound_and_others_served(start_server, kind):
    server = start_server()
    quiet = [timed_call(server, interop_pb2.SimpleRequest(payload=b"x" * 100)) for _ in range(20)]
    before = settle(server, 1.0)
    if kind == "unread pongs":
        deaf = DeafClient(server.port, framing.ping_frame(7) * 1000, 2000)  # 24 MB of pings
    else:
        request = interop_pb2.SimpleRequest(response_size=4_000_000).SerializeToString()
        burst = b"".join(framing.request_frame(i, UNARY_CALL, request) for i in range(1, 201))
        deaf = DeafClient(server.port, burst, 1)  # 200 answers of 4 MB: 800 MB asked for
    try:
        time.sleep(1.0)
        loaded = [timed_call(server, interop_pb2.SimpleRequest(payload=b"x" * 100)) for _ in range(20)]
        time.sleep(1.0)
        during = rss_mib(server)
    finally:
        deaf.close()
    print(f"\n{kind}: RSS {before:.1f} -> {during:.1f} MiB; other calls {max(quiet) * 1000:.1f} ms before, "
          f"{max(loaded) * 1000:.1f} ms during (max of 20)")
    # 16 MiB of unread answers on the connection, and a few answers in the making.
    assert during - before < 64, f"RSS went from {before:.1f} to {during:.1f} MiB ({kind})"
    # Another client's calls are not held up (a generous bound: no timing is asserted closely).
    assert max(loaded) < 2.0, f"calls took up to {max(loaded):.3f}s during the flood ({kind}), {max(quiet):.3f}s before"
