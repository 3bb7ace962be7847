"""The client's behaviour against a scripted fake server: things a real server
does only in rare moments (GOAWAY with calls in flight, dying mid-call, pinging,
oversize or odd answers). No Swift server needed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import souk_rpc
from souk_rpc import framing, health_pb2
from souk_rpc._pb import frame_pb2
from souk_rpc.framing import StatusCode
from souk_test_helpers import FakeServer
from test_framing import REQUEST_HEX, unhex

CHECK = "/souk.rpc.v1.HealthService/Check"


def check_request(service: str = "") -> health_pb2.HealthCheckRequest:
    return health_pb2.HealthCheckRequest(service=service)


def serving() -> bytes:
    return health_pb2.HealthCheckResponse(status=health_pb2.SERVING_STATUS_SERVING).SerializeToString()


def test_worked_example_on_the_wire():
    """conn.call writes exactly PROTOCOL.md section 7's bytes and reads its answer."""
    seen = {}

    def script(peer):
        frame = peer.next_frame()
        seen["bytes"] = bytes(peer.received)
        peer.send(unhex("00 00 00 0a 00 00 00 04 12 02 08 01 08 01"))
        peer.next_frame(timeout=2)  # until the client closes

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port, timeout=5) as conn:
        reply = conn.call_full(CHECK, check_request("souk.users.v1.UsersService"),
                               health_pb2.HealthCheckResponse, timeout=1.0,
                               metadata={"x-request-id": "r1"})
        assert reply.response.status == health_pb2.SERVING_STATUS_SERVING
        assert reply.call_id == 1
    server.join()
    assert server.client_preface == b"SOUKRPC\x01"
    assert seen["bytes"] == b"SOUKRPC\x01" + unhex(REQUEST_HEX)


def test_answers_out_of_order_reach_their_callers():
    def script(peer):
        requests = [peer.next_frame() for _ in range(20)]
        ids = [f.header.request.call_id for f in requests]
        assert ids == sorted(ids) and len(set(ids)) == 20, f"call ids not increasing: {ids}"
        for frame in reversed(requests):
            peer.respond(frame.header.request.call_id, frame.payload)  # echo the request back
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    results = {}
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        def worker(i):
            response = conn.call(CHECK, check_request(f"svc-{i}"), health_pb2.HealthCheckRequest,
                                 timeout=5)
            results[i] = response.service

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    server.join()
    assert results == {i: f"svc-{i}" for i in range(20)}


def test_client_deadline_sends_cancel_and_discards_the_late_answer():
    cancelled = {}

    def script(peer):
        request = peer.next_frame()
        call_id = request.header.request.call_id
        cancel = peer.next_frame()
        cancelled["id"] = (call_id, cancel.kind, cancel.header.cancel.call_id,
                           request.header.request.timeout_ms)
        peer.respond(call_id, serving())  # too late: must be discarded
        second = peer.next_frame()
        peer.respond(second.header.request.call_id, serving())
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        start = time.monotonic()
        with pytest.raises(souk_rpc.RpcError) as info:
            conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse, timeout=0.05)
        assert time.monotonic() - start < 0.5
        assert info.value.code == StatusCode.DEADLINE_EXCEEDED and info.value.local
        response = conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse, timeout=5)
        assert response.status == health_pb2.SERVING_STATUS_SERVING
    server.join()
    assert cancelled["id"] == (1, "cancel", 1, 50)


def test_goaway_fails_unaccepted_calls_and_new_calls_lets_accepted_ones_finish():
    go = threading.Event()

    def script(peer):
        ids = [peer.next_frame().header.request.call_id for _ in range(3)]
        assert ids == [1, 2, 3]
        peer.goaway(2, StatusCode.OK, "deploy")
        go.wait(5)
        peer.respond(1, serving())
        peer.respond(2, serving())
        # then close, as a server does once the accepted calls are answered

    server = FakeServer(script)
    conn = souk_rpc.connect("127.0.0.1", server.port)
    calls = [conn.start_call(CHECK, b"", timeout=5) for _ in range(3)]
    with pytest.raises(souk_rpc.RpcError) as info:
        calls[2].result()
    assert info.value.code == StatusCode.UNAVAILABLE and "did not accept call 3" in info.value.message
    assert not conn.is_open and conn.goaway.last_call_id == 2
    with pytest.raises(souk_rpc.RpcError) as info:
        conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse)
    assert info.value.code == StatusCode.UNAVAILABLE and "GOAWAY" in info.value.message
    go.set()
    assert calls[0].result().payload == serving()
    assert calls[1].result().payload == serving()
    assert conn.wait_closed(5)
    server.join()
    conn.close()


def test_connection_loss_fails_every_pending_call_unavailable():
    def script(peer):
        for _ in range(5):
            peer.next_frame()
        # and die with five calls in flight

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        calls = [conn.start_call(CHECK, b"") for _ in range(5)]  # no deadline: must not hang
        for call in calls:
            with pytest.raises(souk_rpc.RpcError) as info:
                call.result(timeout=5)
            assert info.value.code == StatusCode.UNAVAILABLE
        with pytest.raises(souk_rpc.RpcError) as info:
            conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse)
        assert info.value.code == StatusCode.UNAVAILABLE
    server.join()


def test_client_answers_server_ping_and_pings_itself():
    got = {}

    def script(peer):
        peer.send(framing.ping_frame(0xDEADBEEF))
        got["pong"] = peer.next_frame()
        ping = peer.next_frame()
        got["ping"] = ping
        header = frame_pb2.FrameHeader()
        header.pong.payload = ping.header.ping.payload
        peer.send(framing.encode_frame(header))
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        time.sleep(0.1)
        assert conn.ping(timeout=5) < 5
    server.join()
    assert got["pong"].kind == "pong" and got["pong"].header.pong.payload == 0xDEADBEEF
    assert got["ping"].kind == "ping"


def test_oversize_response_fails_that_call_only():
    def script(peer):
        first = peer.next_frame()
        peer.respond(first.header.request.call_id, b"\x0a" + b"\x80\x80\x01" + b"z" * 16384)
        second = peer.next_frame()
        peer.respond(second.header.request.call_id, serving())
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port, max_receive_frame_length=4096) as conn:
        with pytest.raises(souk_rpc.RpcError) as info:
            conn.call_raw(CHECK, b"", timeout=5)
        assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
        assert conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse, timeout=5).status == 1
    server.join()


def test_error_status_details_trailers_and_unknown_codes():
    def script(peer):
        first = peer.next_frame()
        trailer = frame_pb2.MetadataEntry(key="x-t-bin", binary=b"\x00\x01")
        peer.respond(first.header.request.call_id, code=5, message="no such order",
                     details=b"\x0a\x00", trailing=[trailer])
        second = peer.next_frame()
        peer.respond(second.header.request.call_id, code=42, message="from the future")
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        with pytest.raises(souk_rpc.RpcError) as info:
            conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse, timeout=5)
        error = info.value
        assert (error.code, error.code_name, error.message, error.details, error.local) == \
            (5, "NOT_FOUND", "no such order", b"\x0a\x00", False)
        assert error.trailing_metadata == [("x-t-bin", b"\x00\x01")]
        with pytest.raises(souk_rpc.RpcError) as info:
            conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse, timeout=5)
        assert (info.value.code, info.value.code_name, info.value.raw_code) == (2, "UNKNOWN", 42)
    server.join()


def test_bad_server_preface_fails_connect():
    server = FakeServer(lambda peer: peer.next_frame(timeout=2), preface=b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(souk_rpc.RpcError) as info:
        souk_rpc.connect("127.0.0.1", server.port, timeout=5)
    assert info.value.code == StatusCode.UNAVAILABLE and "preface" in info.value.message
    server.join()


def test_server_protocol_violation_ends_the_connection():
    def script(peer):
        peer.next_frame()
        peer.send(unhex("00 00 00 04 00 00 00 05"))  # header_length > frame_length - 4
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        with pytest.raises(souk_rpc.RpcError) as info:
            conn.call(CHECK, check_request(), health_pb2.HealthCheckResponse, timeout=5)
        assert info.value.code == StatusCode.UNAVAILABLE and "protocol error" in info.value.message
    server.join()


def test_connect_refused_is_unavailable():
    import socket
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(souk_rpc.RpcError) as info:
        souk_rpc.connect("127.0.0.1", port, timeout=2)
    assert info.value.code == StatusCode.UNAVAILABLE


def test_asyncio_calls_and_task_cancellation_sends_cancel():
    seen = []

    def script(peer):
        frames = [peer.next_frame() for _ in range(3)]
        cancel = peer.next_frame()
        seen.append(cancel)
        for frame in frames:
            peer.respond(frame.header.request.call_id, frame.payload)
        peer.next_frame(timeout=2)

    server = FakeServer(script)

    async def main():
        conn = await souk_rpc.connect_async("127.0.0.1", server.port)
        async with conn:
            tasks = [asyncio.create_task(conn.call_async(
                CHECK, check_request(f"s{i}"), health_pb2.HealthCheckRequest, timeout=5))
                for i in range(3)]
            await asyncio.sleep(0.1)
            tasks[1].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert results[0].service == "s0" and results[2].service == "s2"
            assert isinstance(results[1], asyncio.CancelledError)

    asyncio.run(main())
    server.join()
    assert seen[0].kind == "cancel" and seen[0].header.cancel.call_id == 2


def test_async_deadline():
    def script(peer):
        peer.next_frame()
        peer.next_frame(timeout=3)  # the cancel

    server = FakeServer(script)

    async def main():
        with souk_rpc.connect("127.0.0.1", server.port) as conn:
            start = time.monotonic()
            with pytest.raises(souk_rpc.RpcError) as info:
                await conn.call_async(CHECK, check_request(), health_pb2.HealthCheckResponse,
                                      timeout=0.05)
            assert info.value.code == StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - start < 0.5

    asyncio.run(main())
    server.join()


def test_explicit_cancel():
    seen = []

    def script(peer):
        request = peer.next_frame()
        seen.append(peer.next_frame())
        peer.respond(request.header.request.call_id, serving())  # already on its way: discarded
        peer.next_frame(timeout=2)

    server = FakeServer(script)
    with souk_rpc.connect("127.0.0.1", server.port) as conn:
        call = conn.start_call(CHECK, b"")  # no deadline
        assert call.cancel() is True
        assert call.cancel() is False  # once only
        with pytest.raises(souk_rpc.RpcError) as info:
            call.result(timeout=1)
        assert info.value.code == StatusCode.CANCELLED and info.value.local
        assert conn.pending_call_ids() == []
        time.sleep(0.1)
        assert conn.is_open
    server.join()
    assert seen[0].kind == "cancel" and seen[0].header.cancel.call_id == call.call_id
