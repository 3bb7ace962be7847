"""The Swift server against PROTOCOL.md, byte for byte, from a raw socket:
prefaces, protocol errors, limits. Each failure message carries the bytes
received."""

from __future__ import annotations

import socket
import time

import pytest

from souk_rpc import framing
from souk_rpc._pb import frame_pb2
from souk_rpc.framing import StatusCode
from souk_test_helpers import RawPeer

from souk.test.v1 import interop_pb2  # noqa: E402

EMPTY_CALL = "/souk.test.v1.InteropService/EmptyCall"
UNARY_CALL = "/souk.test.v1.InteropService/UnaryCall"


def hexdump(data: bytes, limit: int = 400) -> str:
    text = data[:limit].hex(" ")
    return text + (f" ... ({len(data)} bytes)" if len(data) > limit else "")


def goaway_then_close(peer: RawPeer, timeout: float = 5.0):
    """The GOAWAY the server sends before it closes the connection."""
    try:
        frames = peer.wait_closed(timeout)
    except TimeoutError:
        pytest.fail(f"the server did not close the connection within {timeout:g}s; "
                    f"received: {hexdump(bytes(peer.received))}")
    goaways = [f.header.go_away for f in frames
               if isinstance(f, framing.Frame) and f.kind == "go_away"]
    assert goaways, f"closed without a GOAWAY; received: {hexdump(bytes(peer.received))}"
    return goaways[-1]


@pytest.fixture
def peer(interop_server):
    p = RawPeer.connect(interop_server.port)
    yield p
    p.close()


# --- prefaces (section 1) -------------------------------------------------------------


@pytest.mark.parametrize("preface", [b"NOTSOUK!", b"\x00" * 8, b"SOUKRPX\x01", b"soukrpc\x01",
                                     b"\x16\x03\x01\x02\x00\x01\x00\x00"])
def test_bad_preface_gets_preface_and_goaway_invalid_argument(peer, preface):
    peer.send(preface)
    first = peer.next_event()
    assert isinstance(first, framing.Preface) and first.version == 1, \
        f"received: {hexdump(bytes(peer.received))}"
    goaway = goaway_then_close(peer)
    assert goaway.code == StatusCode.INVALID_ARGUMENT, goaway
    assert goaway.reason == "not a Souk RPC client: bad preface", goaway


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"POST /souk.rpc.v1.HealthService/Check HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"PATCH /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
], ids=["GET", "POST", "PUT", "HEAD", "PATCH", "DELETE", "OPTIONS", "h2-PRI"])
def test_http_request_gets_http_400(peer, request_bytes):
    peer.send(request_bytes)
    try:
        answer = peer.read_all(timeout=5)
    except TimeoutError:
        pytest.fail(f"no close within 5s; received: {bytes(peer.received)!r}")
    assert answer.startswith(b"HTTP/1.1 400"), f"received: {answer[:300]!r}"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"souk rpc" in body.lower(), f"body does not say the port speaks Souk RPC: {answer!r}"


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version_gets_goaway_unimplemented(peer, version):
    peer.send(framing.MAGIC + bytes([version]))
    first = peer.next_event()
    assert isinstance(first, framing.Preface) and first.version == 1, \
        f"received: {hexdump(bytes(peer.received))}"
    goaway = goaway_then_close(peer)
    assert goaway.code == StatusCode.UNIMPLEMENTED, goaway
    assert goaway.reason == f"unsupported protocol version {version}; this server speaks 1", goaway


def test_preface_and_frames_byte_at_a_time(peer):
    data = framing.CLIENT_PREFACE + framing.request_frame(1, EMPTY_CALL, timeout_ms=5000) \
        + framing.ping_frame(5)
    for i in range(len(data)):
        peer.send(data[i:i + 1])
        time.sleep(0.001)
    assert isinstance(peer.next_event(), framing.Preface)
    frames = [peer.next_frame(), peer.next_frame()]
    kinds = sorted(f.kind for f in frames)
    assert kinds == ["pong", "response"], [str(f.header) for f in frames]
    response = next(f for f in frames if f.kind == "response")
    assert response.header.response.call_id == 1 and response.header.response.code == 0


def test_frames_in_one_write(peer):
    data = framing.CLIENT_PREFACE + b"".join(
        framing.request_frame(i, UNARY_CALL, interop_pb2.SimpleRequest(payload=bytes([i]))
                              .SerializeToString()) for i in range(1, 51))
    peer.send(data)
    answers = {}
    for _ in range(50):
        frame = peer.next_frame()
        assert frame.kind == "response", str(frame.header)
        answers[frame.header.response.call_id] = interop_pb2.SimpleResponse.FromString(frame.payload).payload
    assert answers == {i: bytes([i]) for i in range(1, 51)}


def test_empty_frame_is_ignored(peer):
    """Section 2: a FrameHeader with no kind set, which a receiver ignores."""
    peer.send(framing.CLIENT_PREFACE + bytes.fromhex("00 00 00 04 00 00 00 00") + framing.ping_frame(3))
    frame = peer.next_frame()
    assert frame is not None and frame.kind == "pong" and frame.header.pong.payload == 3, \
        f"received: {hexdump(bytes(peer.received))}"


def test_truncated_frame_then_eof_leaves_the_server_serving(interop_server):
    peer = RawPeer.connect(interop_server.port)
    peer.send(framing.CLIENT_PREFACE + framing.request_frame(1, EMPTY_CALL)[:-3])
    peer.sock.shutdown(socket.SHUT_WR)
    try:
        peer.wait_closed(5)
    finally:
        peer.close()
    again = RawPeer.connect(interop_server.port)
    try:
        again.send(framing.CLIENT_PREFACE + framing.ping_frame(1))
        assert again.next_frame().kind == "pong"
    finally:
        again.close()


# --- protocol errors (section 6) ------------------------------------------------------------


def _response_frame() -> bytes:
    header = frame_pb2.FrameHeader()
    header.response.call_id = 1
    return framing.encode_frame(header)


def _goaway_frame() -> bytes:
    header = frame_pb2.FrameHeader()
    header.go_away.code = StatusCode.OK
    return framing.encode_frame(header)


PROTOCOL_ERRORS = {
    "call-id-zero": framing.request_frame(0, EMPTY_CALL),
    "call-id-repeated": framing.request_frame(1, EMPTY_CALL) + framing.request_frame(1, EMPTY_CALL),
    "call-id-decreasing": framing.request_frame(5, EMPTY_CALL) + framing.request_frame(3, EMPTY_CALL),
    "header-longer-than-frame": bytes.fromhex("00 00 00 04 00 00 00 05"),
    "header-not-protobuf": bytes.fromhex("00 00 00 06 00 00 00 02 ff ff"),
    "response-from-client": _response_frame(),
    "go-away-from-client": _goaway_frame(),
}


@pytest.mark.parametrize("frames", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
def test_protocol_error_gets_goaway_invalid_argument(peer, frames):
    peer.send(framing.CLIENT_PREFACE + frames)
    goaway = goaway_then_close(peer)
    assert goaway.code == StatusCode.INVALID_ARGUMENT, \
        f"{goaway}; received: {hexdump(bytes(peer.received))}"
    assert goaway.reason, "the GOAWAY reason should name the violation"


def test_header_over_64k_gets_goaway_resource_exhausted(peer):
    header = frame_pb2.FrameHeader()
    header.ping.payload = 1
    padding = bytes(70_000)
    # a valid FrameHeader: a ping plus an unknown length-delimited field 100 holding the padding
    tag = bytes([0xA2, 0x06])  # field 100, wire type 2
    length = bytearray()
    n = len(padding)
    while True:
        byte = n & 0x7F
        n >>= 7
        length.append(byte | (0x80 if n else 0))
        if not n:
            break
    header_bytes = header.SerializeToString() + tag + bytes(length) + padding
    assert frame_pb2.FrameHeader.FromString(header_bytes).ping.payload == 1
    peer.send(framing.CLIENT_PREFACE + framing.encode_frame(header_bytes))
    goaway = goaway_then_close(peer)
    assert goaway.code == StatusCode.RESOURCE_EXHAUSTED, goaway


def test_over_limit_non_request_frame_gets_goaway_resource_exhausted(small_frame_server):
    peer = RawPeer.connect(small_frame_server.port)
    try:
        header = frame_pb2.FrameHeader()
        header.ping.payload = 1
        peer.send(framing.CLIENT_PREFACE + framing.encode_frame(header, bytes(100 * 1024)))
        goaway = goaway_then_close(peer)
        assert goaway.code == StatusCode.RESOURCE_EXHAUSTED, goaway
    finally:
        peer.close()


def test_over_limit_request_frame_raw(small_frame_server):
    """The over-limit request's payload is skipped; the call is answered
    RESOURCE_EXHAUSTED; frames after it are served."""
    peer = RawPeer.connect(small_frame_server.port)
    try:
        big = interop_pb2.SimpleRequest(payload=bytes(100 * 1024)).SerializeToString()
        peer.send(framing.CLIENT_PREFACE + framing.request_frame(1, UNARY_CALL, big)
                  + framing.request_frame(2, EMPTY_CALL) + framing.ping_frame(9))
        frames = [peer.next_frame() for _ in range(3)]
        by_kind = {(f.kind, f.header.response.call_id if f.kind == "response" else 0): f
                   for f in frames if f is not None}
        assert set(by_kind) == {("response", 1), ("response", 2), ("pong", 0)}, \
            f"received: {hexdump(bytes(peer.received))}"
        assert by_kind[("response", 1)].header.response.code == StatusCode.RESOURCE_EXHAUSTED
        assert by_kind[("response", 1)].payload == b""
        assert by_kind[("response", 2)].header.response.code == StatusCode.OK
    finally:
        peer.close()


# --- request metadata (section 3) -----------------------------------------------------


@pytest.mark.parametrize("key,text,binary", [
    ("X-Upper", "v", None),
    ("bad key", "v", None),
    ("", "v", None),
    ("k" * 65, "v", None),
    ("trace-bin", "text under a -bin key", None),
    ("x-plain", None, b"\x00\x01"),
    ("x-injected", "a\r\nauthorization: Bearer x", None),
    ("x-big", "a" * 8193, None),
])
def test_invalid_request_metadata_is_invalid_argument_and_the_connection_goes_on(peer, key, text, binary):
    entry = frame_pb2.MetadataEntry(key=key)
    if binary is not None:
        entry.binary = binary
    else:
        entry.text = text
    peer.send(framing.CLIENT_PREFACE + framing.request_frame(1, EMPTY_CALL, metadata=[entry])
              + framing.request_frame(2, EMPTY_CALL))
    assert isinstance(peer.next_event(), framing.Preface)
    frames = [peer.next_frame(), peer.next_frame()]
    by_id = {f.header.response.call_id: f.header.response for f in frames if f is not None and f.kind == "response"}
    assert set(by_id) == {1, 2}, f"received: {hexdump(bytes(peer.received))}"
    assert by_id[1].code == StatusCode.INVALID_ARGUMENT
    assert "metadata" in by_id[1].status_message
    assert by_id[2].code == StatusCode.OK
