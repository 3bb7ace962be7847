"""gRPC's unary interop cases, and more, against the real Swift server
(souk-interop-server), through souk_rpc."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import souk_rpc
from souk_rpc import StatusCode, framing, health_pb2
from souk_rpc._pb import frame_pb2

from souk.test.v1 import interop_pb2  # noqa: E402  (generated; on sys.path through souk_rpc)

SERVICE = "souk.test.v1.InteropService"
EMPTY_CALL = f"/{SERVICE}/EmptyCall"
UNARY_CALL = f"/{SERVICE}/UnaryCall"
SimpleRequest = interop_pb2.SimpleRequest
SimpleResponse = interop_pb2.SimpleResponse


def unary(conn, request: SimpleRequest, timeout: float | None = 10.0, metadata=None):
    return conn.call(UNARY_CALL, request, SimpleResponse, timeout=timeout, metadata=metadata)


def expect_error(code: int, function, *args, **kwargs) -> souk_rpc.RpcError:
    with pytest.raises(souk_rpc.RpcError) as info:
        function(*args, **kwargs)
    error = info.value
    assert error.code == code, f"expected {StatusCode(code).name}, got {error}"
    return error


def still_serves(conn) -> None:
    """The connection answers a normal call (after an error on it)."""
    response = unary(conn, SimpleRequest(payload=b"still here"))
    assert response.payload == b"still here"


# --- gRPC interop cases ---------------------------------------------------------------


def test_empty_unary(conn):
    response = conn.call(EMPTY_CALL, interop_pb2.InteropEmpty(), interop_pb2.InteropEmpty, timeout=10)
    assert response == interop_pb2.InteropEmpty()
    raw = conn.call_raw(EMPTY_CALL, b"", timeout=10)
    assert raw.payload == b""


def test_large_unary(conn):
    request = SimpleRequest(payload=bytes(271_828), response_size=314_159)
    response = unary(conn, request)
    assert response.payload == bytes(314_159)


def test_large_unary_echo(conn):
    payload = random.Random(1).randbytes(271_828)
    assert unary(conn, SimpleRequest(payload=payload)).payload == payload


CUSTOM_METADATA = [
    ("x-echo-initial", "test_initial_metadata_value"),
    ("x-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b"),
    ("x-request-id", "r-42"),
    ("x-repeated", "first"),
    ("x-repeated", "second"),
    ("all-bytes-bin", bytes(range(256))),
    ("empty-bin", b""),
    ("x-empty", ""),
    ("x.dots_and-dashes", " !\"#$%&'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~"),
]


def echoed(response) -> list:
    pairs = []
    for entry in response.echoed_metadata:
        which = entry.WhichOneof("value")
        if which == "binary":
            pairs.append((entry.key, entry.binary))
        elif which == "text":
            pairs.append((entry.key, entry.text))
        else:
            pairs.append((entry.key, b"" if entry.key.endswith("-bin") else ""))
    return pairs


def test_custom_metadata(conn):
    reply = conn.call_full(UNARY_CALL, SimpleRequest(payload=b"abc", echo_metadata=True),
                           SimpleResponse, timeout=10, metadata=CUSTOM_METADATA)
    assert reply.response.payload == b"abc"
    assert echoed(reply.response) == CUSTOM_METADATA
    # interop.proto: the x-echo- entries come back as trailing metadata on success too.
    assert reply.trailing_metadata == [(k, v) for k, v in CUSTOM_METADATA if k.startswith("x-echo-")]


def test_custom_metadata_in_trailers_of_a_failure(conn):
    """interop.proto: a failure's trailing metadata echoes the x-echo- entries."""
    request = SimpleRequest(response_status=interop_pb2.EchoStatus(code=2, message="with trailers"))
    error = expect_error(2, unary, conn, request, metadata=CUSTOM_METADATA)
    assert error.trailing_metadata == [(k, v) for k, v in CUSTOM_METADATA if k.startswith("x-echo-")]
    assert not error.local


def test_metadata_dict(conn):
    response = unary(conn, SimpleRequest(echo_metadata=True), metadata={"k": "v", "b-bin": b"\x00"})
    assert echoed(response) == [("k", "v"), ("b-bin", b"\x00")]


def test_status_code_and_message(conn):
    request = SimpleRequest(response_status=interop_pb2.EchoStatus(code=2, message="test status message"))
    error = expect_error(2, unary, conn, request)
    assert (error.code_name, error.message, error.details, error.local) == \
        ("UNKNOWN", "test status message", b"", False)


@pytest.mark.parametrize("code", range(1, 17))
def test_every_status_code(conn, code):
    request = SimpleRequest(response_status=interop_pb2.EchoStatus(code=code, message=f"code {code}"))
    error = expect_error(code, unary, conn, request)
    assert error.message == f"code {code}" and error.code_name == StatusCode(code).name


SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


def test_special_status_message(conn):
    request = SimpleRequest(response_status=interop_pb2.EchoStatus(code=2, message=SPECIAL_MESSAGE))
    error = expect_error(2, unary, conn, request)
    assert error.message == SPECIAL_MESSAGE


def test_unimplemented_method(conn):
    method = f"/{SERVICE}/UnimplementedCall"
    error = expect_error(12, conn.call, method, interop_pb2.InteropEmpty(), interop_pb2.InteropEmpty,
                         timeout=10)
    assert "UnimplementedCall" in error.message and not error.local
    still_serves(conn)


def test_unimplemented_service(conn):
    method = "/souk.test.v1.UnimplementedService/UnimplementedCall"
    error = expect_error(12, conn.call, method, interop_pb2.InteropEmpty(), interop_pb2.InteropEmpty,
                         timeout=10)
    assert "souk.test.v1.UnimplementedService" in error.message and not error.local
    still_serves(conn)


@pytest.mark.parametrize("method", ["", "nonsense", "/", "/onlyservice", f"{SERVICE}/UnaryCall",
                                    f"/{SERVICE}/", f"//UnaryCall", f"/{SERVICE}/UnaryCall/extra"])
def test_malformed_method_name_is_unimplemented(conn, method):
    error = expect_error(12, conn.call_raw, method, b"", timeout=10)
    assert not error.local
    still_serves(conn)


def test_timeout_on_sleeping_server(conn):
    start = time.monotonic()
    error = expect_error(4, unary, conn, SimpleRequest(sleep_ms=500), timeout=0.05)
    elapsed = time.monotonic() - start
    assert elapsed < 0.3, f"DEADLINE_EXCEEDED after {elapsed:.3f}s for a 50 ms timeout"
    still_serves(conn)


def test_server_enforces_the_deadline(interop_server):
    """The server itself answers DEADLINE_EXCEEDED at timeout_ms (the client here
    sends timeout_ms 50 but keeps waiting)."""
    from souk_test_helpers import RawPeer
    peer = RawPeer.connect(interop_server.port)
    try:
        payload = SimpleRequest(sleep_ms=2000).SerializeToString()
        start = time.monotonic()
        peer.send(framing.CLIENT_PREFACE + framing.request_frame(1, UNARY_CALL, payload, timeout_ms=50))
        frame = peer.next_frame(timeout=5)
        elapsed = time.monotonic() - start
        assert frame is not None and frame.kind == "response", f"got {frame}"
        assert frame.header.response.call_id == 1
        assert frame.header.response.code == StatusCode.DEADLINE_EXCEEDED, frame.header
        assert frame.payload == b""
        assert 0.045 <= elapsed < 0.5, f"server deadline answer after {elapsed:.3f}s for 50 ms"
    finally:
        peer.close()


def test_cancel_stops_the_call(interop_server):
    """After Cancel the server sends nothing more for that call (section 3)."""
    from souk_test_helpers import RawPeer
    peer = RawPeer.connect(interop_server.port)
    try:
        slow = SimpleRequest(sleep_ms=300, payload=b"slow").SerializeToString()
        peer.send(framing.CLIENT_PREFACE + framing.request_frame(1, UNARY_CALL, slow)
                  + framing.cancel_frame(1) + framing.request_frame(2, EMPTY_CALL))
        first = peer.next_frame(timeout=5)
        assert first.kind == "response" and first.header.response.call_id == 2
        time.sleep(0.6)  # past the cancelled call's sleep
        peer.send(framing.ping_frame(99) + framing.cancel_frame(1) + framing.cancel_frame(77))
        frames = []
        while True:
            frame = peer.next_frame(timeout=5)
            frames.append(frame)
            if frame is None or frame.kind == "pong":
                break
        assert [f.kind if f else None for f in frames] == ["pong"], \
            f"expected only the pong after cancelling call 1, got {[str(f and f.header) for f in frames]}"
    finally:
        peer.close()


# --- many calls on one connection -------------------------------------------------------


def test_100_concurrent_calls_on_one_connection_answered_out_of_order(conn):
    rng = random.Random(4)
    sleeps = [rng.randrange(0, 300) for _ in range(100)]
    completions: list[int] = []
    lock = threading.Lock()

    def one(i: int):
        payload = f"call {i} ".encode() * (i + 1)
        reply = conn.call_full(UNARY_CALL, SimpleRequest(payload=payload, sleep_ms=sleeps[i]),
                               SimpleResponse, timeout=20)
        with lock:
            completions.append(reply.call_id)
        return payload, reply.response.payload, reply.call_id

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(one, range(100)))
    elapsed = time.monotonic() - start
    for sent, received, _ in results:
        assert received == sent
    assert len({call_id for _, _, call_id in results}) == 100
    assert completions != sorted(completions), "every answer came in call id order"
    inversions = sum(1 for a, b in zip(completions, completions[1:]) if a > b)
    assert inversions >= 10, f"only {inversions} answers out of call id order"
    assert elapsed < sum(sleeps) / 1000 / 4, f"100 calls took {elapsed:.2f}s: served one by one?"


def test_100_concurrent_async_calls(interop_server):
    async def main():
        conn = await souk_rpc.connect_async(interop_server.host, interop_server.port)
        async with conn:
            rng = random.Random(7)
            requests = [SimpleRequest(payload=i.to_bytes(2, "big"), sleep_ms=rng.randrange(0, 200))
                        for i in range(100)]
            order: list[int] = []

            async def one(request):
                response = await conn.call_async(UNARY_CALL, request, SimpleResponse, timeout=20)
                order.append(int.from_bytes(response.payload, "big"))
                return response.payload

            results = await asyncio.gather(*(one(r) for r in requests))
            assert results == [r.payload for r in requests]
            assert order != sorted(order)

    asyncio.run(main())


def test_async_timeout_on_sleeping_server(interop_server):
    async def main():
        with interop_server.connect() as conn:
            start = time.monotonic()
            with pytest.raises(souk_rpc.RpcError) as info:
                await conn.call_async(UNARY_CALL, SimpleRequest(sleep_ms=500), SimpleResponse,
                                      timeout=0.05)
            assert info.value.code == StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - start < 0.3
            response = await conn.call_async(UNARY_CALL, SimpleRequest(payload=b"x"), SimpleResponse,
                                             timeout=10)
            assert response.payload == b"x"

    asyncio.run(main())


# --- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    pytest.param(b"\xff\xff\xff\xff", id="garbage"),
    pytest.param(b"\x0a\x05ab", id="truncated-bytes-field"),
    pytest.param(b"\x0f", id="bad-wire-type"),
    pytest.param(b"\x22\x04\x12\x02\xff\xfe", id="invalid-utf8-string"),
    pytest.param(b"\x22\x05\x12\x03a\x00b", id="string-with-U+0000"),
])
def test_invalid_payload(conn, payload):
    error = expect_error(3, conn.call_raw, UNARY_CALL, payload, timeout=10)
    assert not error.local
    still_serves(conn)


def test_out_of_range_request_fields(conn):
    expect_error(3, unary, conn, SimpleRequest(response_size=4_000_001))
    expect_error(3, unary, conn, SimpleRequest(sleep_ms=600_001))
    still_serves(conn)


def _request_with_frame_length(target: int, call_id: int) -> tuple[SimpleRequest, int]:
    """A SimpleRequest whose request frame (for ``call_id``, no timeout, no
    metadata) has exactly ``frame_length == target``."""
    for size in range(target, 0, -1):
        # response_size 1: the answer stays small (what the server does with a response
        # near its own frame limit is not specified by PROTOCOL.md)
        request = SimpleRequest(payload=bytes(size), response_size=1)
        frame = framing.request_frame(call_id, UNARY_CALL, request.SerializeToString())
        length = int.from_bytes(frame[:4], "big")
        if length == target:
            return request, length
        if length < target:
            break
    raise AssertionError(f"no request with frame_length {target}")


def test_over_limit_frame(small_frame_server):
    with small_frame_server.connect() as conn:
        payload = bytes(100 * 1024)
        error = expect_error(8, unary, conn, SimpleRequest(payload=payload))
        assert not error.local
        still_serves(conn)
        # and again: the connection survives over-limit frames
        expect_error(8, unary, conn, SimpleRequest(payload=payload))
        still_serves(conn)


def test_frame_exactly_at_the_limit_and_one_over(small_frame_server):
    """PROTOCOL.md section 2: the limit is on `frame_length`; a frame over it is refused."""
    with small_frame_server.connect() as conn:
        request, length = _request_with_frame_length(65536, call_id=1)
        assert length == 65536
        # no timeout: timeout_ms would add bytes to the header
        reply = conn.start_call(UNARY_CALL, request.SerializeToString()).result(timeout=10)
        assert reply.call_id == 1
        assert SimpleResponse.FromString(reply.payload).payload == b"\0"
        over, length = _request_with_frame_length(65537, call_id=2)
        assert length == 65537
        call = conn.start_call(UNARY_CALL, over.SerializeToString())
        assert call.call_id == 2
        with pytest.raises(souk_rpc.RpcError) as info:
            call.result(timeout=10)
        assert info.value.code == StatusCode.RESOURCE_EXHAUSTED, info.value
        assert "65537" in info.value.message, info.value
        still_serves(conn)


# --- health, ping ----------------------------------------------------------------------------


def test_health_check(conn):
    assert souk_rpc.health_check(conn, timeout=10) == health_pb2.SERVING_STATUS_SERVING
    assert souk_rpc.health_check(conn, SERVICE, timeout=10) == health_pb2.SERVING_STATUS_SERVING


def test_health_check_of_an_unknown_service(conn):
    # PROTOCOL.md section 8 says SERVICE_UNKNOWN; health.proto says NOT_FOUND: accept either.
    try:
        status = souk_rpc.health_check(conn, "souk.nothing.v1.NoService", timeout=10)
    except souk_rpc.RpcError as error:
        assert error.code == StatusCode.NOT_FOUND, error
    else:
        assert status == health_pb2.SERVING_STATUS_SERVICE_UNKNOWN


def test_ping_pong(conn):
    for _ in range(3):
        assert conn.ping(timeout=5) < 5


def test_ping_pong_raw(interop_server):
    from souk_test_helpers import RawPeer
    peer = RawPeer.connect(interop_server.port)
    try:
        peer.send(framing.CLIENT_PREFACE + framing.ping_frame(7) + framing.ping_frame(2**64 - 1))
        preface = peer.next_event()
        assert isinstance(preface, framing.Preface) and preface.version == 1
        pongs = [peer.next_frame(), peer.next_frame()]
        assert [(f.kind, f.header.pong.payload) for f in pongs] == [("pong", 7), ("pong", 2**64 - 1)]
        assert all(f.payload == b"" for f in pongs)
    finally:
        peer.close()


# --- shutdown, loss, limits ------------------------------------------------------------------


def test_graceful_shutdown_sends_goaway_and_finishes_accepted_calls(start_server):
    server = start_server()
    conn = server.connect()
    try:
        slow = conn.start_call(UNARY_CALL, SimpleRequest(payload=b"finish me", sleep_ms=500)
                               .SerializeToString(), timeout=10)
        time.sleep(0.15)
        server.terminate()
        reply = slow.result()
        assert SimpleResponse.FromString(reply.payload).payload == b"finish me"
        deadline = time.monotonic() + 5
        while conn.goaway is None and conn.closed_reason is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert conn.goaway is not None, f"no GOAWAY before close: {conn.closed_reason}"
        assert conn.goaway.last_call_id >= 1
        error = expect_error(14, unary, conn, SimpleRequest())
        assert error.local
        assert conn.wait_closed(10)
        server.proc.wait(10)  # exits by itself once the accepted calls are answered
    finally:
        conn.close()


def test_server_killed_mid_call_fails_calls_unavailable(start_server):
    server = start_server()
    with server.connect() as conn:
        calls = [conn.start_call(UNARY_CALL, SimpleRequest(sleep_ms=10_000).SerializeToString())
                 for _ in range(3)]  # no deadline: only the connection loss can end them
        time.sleep(0.1)
        server.kill()
        start = time.monotonic()
        for call in calls:
            with pytest.raises(souk_rpc.RpcError) as info:
                call.result(timeout=5)
            assert info.value.code == StatusCode.UNAVAILABLE and info.value.local
        assert time.monotonic() - start < 2


def test_too_many_calls_in_flight_is_resource_exhausted(start_server):
    server = start_server("--max-concurrent-calls", "4")
    with server.connect() as conn:
        calls = [conn.start_call(UNARY_CALL, SimpleRequest(sleep_ms=400).SerializeToString(),
                                 timeout=10) for _ in range(6)]
        codes = []
        for call in calls:
            try:
                call.result()
                codes.append(0)
            except souk_rpc.RpcError as error:
                codes.append(error.code)
        assert sorted(codes) == [0, 0, 0, 0, 8, 8], codes
        still_serves(conn)


def test_idle_connection_gets_goaway_ok_idle(start_server):
    server = start_server("--idle-timeout-ms", "300")
    with server.connect() as conn:
        assert conn.wait_closed(5), "idle connection not closed"
        assert conn.goaway is not None, f"closed without GOAWAY: {conn.closed_reason}"
        assert (conn.goaway.code, conn.goaway.reason) == (StatusCode.OK, "idle")
