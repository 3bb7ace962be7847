"""Unit tests of souk_rpc's framing, against PROTOCOL.md section 7's worked
example byte for byte. No server needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from souk_rpc import framing, health_pb2
from souk_rpc._pb import frame_pb2
from souk_rpc.connection import RpcError, timeout_to_ms
from souk_rpc.framing import FrameDecoder, ProtocolError, StatusCode
from souk_rpc.metadata import from_entries, to_entries

PROTOCOL_MD = Path(__file__).resolve().parents[3] / "PROTOCOL.md"

# The worked example, copied from PROTOCOL.md section 7 (and also read from the
# page itself below, so that page and tests cannot drift apart unnoticed).
CLIENT_PREFACE_HEX = "53 4f 55 4b 52 50 43 01"
REQUEST_HEX = """
00 00 00 5d 00 00 00 3d 0a 3b 08 01 12 20 2f 73 6f 75 6b 2e 72 70 63 2e 76 31 2e
48 65 61 6c 74 68 53 65 72 76 69 63 65 2f 43 68 65 63 6b 18 e8 07 22 12
0a 0c 78 2d 72 65 71 75 65 73 74 2d 69 64 12 02 72 31
0a 1a 73 6f 75 6b 2e 75 73 65 72 73 2e 76 31 2e 55 73 65 72 73 53 65 72 76 69 63 65
"""
SERVER_STREAM_HEX = "53 4f 55 4b 52 50 43 01 00 00 00 0a 00 00 00 04 12 02 08 01 08 01"
FAILED_HEX = ("00 00 00 19 00 00 00 15 12 13 08 02 10 05 1a 0d 6e 6f 20 73 75 63 68 20 6f 72 64"
              " 65 72")
PING_HEX = "00 00 00 08 00 00 00 04 22 02 08 07"
CANCEL_HEX = "00 00 00 08 00 00 00 04 1a 02 08 03"
GOAWAY_HEX = ("00 00 00 19 00 00 00 15 32 13 08 02 10 0e 1a 0d 73 68 75 74 74 69 6e 67 20 64 6f 77"
              " 6e")


def unhex(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


def worked_example_request() -> bytes:
    payload = health_pb2.HealthCheckRequest(service="souk.users.v1.UsersService").SerializeToString()
    return framing.request_frame(1, "/souk.rpc.v1.HealthService/Check", payload,
                                 timeout_ms=timeout_to_ms(1.0),
                                 metadata=to_entries({"x-request-id": "r1"}))


def section7_blocks() -> list[bytes]:
    """The hex of each code block of PROTOCOL.md section 7, in order, with the
    annotations (after two or more spaces) dropped."""
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    section = text.split("## 7.", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        data = bytearray()
        for line in block.splitlines():
            head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            tokens = head.split()
            if tokens and all(re.fullmatch(r"[0-9a-fA-F]{2}", t) for t in tokens):
                data += bytes.fromhex("".join(tokens))
        blocks.append(bytes(data))
    return blocks


# --- encoding -------------------------------------------------------------------------


def test_client_preface_is_the_worked_example():
    assert framing.CLIENT_PREFACE == unhex(CLIENT_PREFACE_HEX) == b"SOUKRPC\x01"


def test_request_frame_is_byte_exact():
    frame = worked_example_request()
    assert len(frame) == 97
    assert frame == unhex(REQUEST_HEX)


def test_copied_hex_matches_protocol_md():
    blocks = section7_blocks()
    assert len(blocks) == 5, "section 7 should have 5 code blocks"
    assert blocks[0] == unhex(CLIENT_PREFACE_HEX)
    assert blocks[1] == unhex(REQUEST_HEX)
    assert blocks[2] == unhex(SERVER_STREAM_HEX)
    assert blocks[3] == unhex(FAILED_HEX)
    assert blocks[4] == unhex(PING_HEX + CANCEL_HEX + GOAWAY_HEX)


def test_other_frames_are_byte_exact():
    assert framing.ping_frame(7) == unhex(PING_HEX)
    assert framing.cancel_frame(3) == unhex(CANCEL_HEX)
    header = frame_pb2.FrameHeader()
    header.go_away.last_call_id = 2
    header.go_away.code = StatusCode.UNAVAILABLE
    header.go_away.reason = "shutting down"
    assert framing.encode_frame(header) == unhex(GOAWAY_HEX)
    header = frame_pb2.FrameHeader()
    header.response.call_id = 2
    header.response.code = StatusCode.NOT_FOUND
    header.response.status_message = "no such order"
    assert framing.encode_frame(header) == unhex(FAILED_HEX)


def test_server_response_of_the_worked_example_encodes_byte_exact():
    header = frame_pb2.FrameHeader()
    header.response.call_id = 1
    payload = health_pb2.HealthCheckResponse(status=health_pb2.SERVING_STATUS_SERVING)
    assert b"SOUKRPC\x01" + framing.encode_frame(header, payload.SerializeToString()) == \
        unhex(SERVER_STREAM_HEX)


def test_smallest_frame():
    assert framing.encode_frame(frame_pb2.FrameHeader()) == unhex("00 00 00 04 00 00 00 00")


# --- decoding -------------------------------------------------------------------------


def check_worked_example_events(events):
    assert isinstance(events[0], framing.Preface) and events[0].version == 1
    frame = events[1]
    assert isinstance(frame, framing.Frame)
    assert frame.kind == "response"
    assert frame.header.response.call_id == 1
    assert frame.header.response.code == StatusCode.OK
    response = health_pb2.HealthCheckResponse.FromString(frame.payload)
    assert response.status == health_pb2.SERVING_STATUS_SERVING
    assert len(events) == 2


def test_decode_worked_example_response_all_at_once():
    check_worked_example_events(FrameDecoder().feed(unhex(SERVER_STREAM_HEX)))


def test_decode_worked_example_response_byte_at_a_time():
    decoder = FrameDecoder()
    events = []
    for byte in unhex(SERVER_STREAM_HEX):
        events += decoder.feed(bytes([byte]))
    check_worked_example_events(events)
    assert decoder.at_frame_boundary


def test_decode_failed_call():
    (frame,) = FrameDecoder(expect_preface=False).feed(unhex(FAILED_HEX))
    response = frame.header.response
    assert (response.call_id, response.code, response.status_message) == (2, 5, "no such order")
    assert frame.payload == b""


def test_decode_other_frames_in_one_read():
    events = FrameDecoder(expect_preface=False).feed(unhex(PING_HEX + CANCEL_HEX + GOAWAY_HEX))
    assert [e.kind for e in events] == ["ping", "cancel", "go_away"]
    assert events[0].header.ping.payload == 7
    assert events[1].header.cancel.call_id == 3
    goaway = events[2].header.go_away
    assert (goaway.last_call_id, goaway.code, goaway.reason) == (2, 14, "shutting down")


def test_many_frames_in_one_read_and_split_anywhere():
    stream = b"".join(framing.ping_frame(i) for i in range(1, 200))
    stream += worked_example_request()
    for cut in (1, 3, 7, 8, 13, 64, len(stream)):
        decoder = FrameDecoder(expect_preface=False)
        events = []
        for start in range(0, len(stream), cut):
            events += decoder.feed(stream[start:start + cut])
        assert [e.header.ping.payload for e in events[:-1]] == list(range(1, 200))
        assert events[-1].header.request.method == "/souk.rpc.v1.HealthService/Check"
        assert health_pb2.HealthCheckRequest.FromString(events[-1].payload).service == \
            "souk.users.v1.UsersService"


def test_empty_frame_has_no_kind():
    (frame,) = FrameDecoder(expect_preface=False).feed(unhex("00 00 00 04 00 00 00 00"))
    assert frame.kind is None and frame.payload == b""


def test_zero_length_payload_response():
    header = frame_pb2.FrameHeader()
    header.response.call_id = 9
    (frame,) = FrameDecoder(expect_preface=False).feed(framing.encode_frame(header))
    assert frame.header.response.call_id == 9 and frame.payload == b""


@pytest.mark.parametrize("data, match", [
    (unhex("00 00 00 04 00 00 00 01 00"), "header_length 1 exceeds"),
    (unhex("00 00 00 03 00 00 00 00"), "less than 4"),
    (unhex("00 00 00 06 00 00 00 02 ff ff"), "not a valid FrameHeader"),
    ((4 + 70000).to_bytes(4, "big") + (70000).to_bytes(4, "big"), "exceeds the limit"),
])
def test_bad_frames_are_protocol_errors(data, match):
    decoder = FrameDecoder(expect_preface=False)
    with pytest.raises(ProtocolError, match=match):
        decoder.feed(data)
    with pytest.raises(ProtocolError):  # and stays failed
        decoder.feed(b"")


def test_frame_at_the_limit_passes_one_over_is_skipped():
    header = frame_pb2.FrameHeader()
    header.response.call_id = 5
    head_len = len(header.SerializeToString())
    limit = 1000
    at_limit = framing.encode_frame(header, b"a" * (limit - 4 - head_len))
    over = framing.encode_frame(header, b"b" * (limit - 4 - head_len + 1))
    assert int.from_bytes(at_limit[:4], "big") == limit
    decoder = FrameDecoder(expect_preface=False, max_frame_length=limit)
    events = decoder.feed(at_limit + over + framing.ping_frame(1))
    assert isinstance(events[0], framing.Frame) and len(events[0].payload) == limit - 4 - head_len
    assert isinstance(events[1], framing.OversizeFrame)
    assert events[1].header.response.call_id == 5 and events[1].frame_length == limit + 1
    assert events[2].kind == "ping"


def test_oversize_payload_is_discarded_without_buffering():
    header = frame_pb2.FrameHeader()
    header.response.call_id = 6
    frame = framing.encode_frame(header, b"x" * 1_000_000) + framing.ping_frame(2)
    decoder = FrameDecoder(expect_preface=False, max_frame_length=4096)
    events = []
    for start in range(0, len(frame), 8192):
        events += decoder.feed(frame[start:start + 8192])
        assert decoder.buffered <= 8192
    assert [type(e).__name__ for e in events] == ["OversizeFrame", "Frame"]
    assert events[0].header.response.call_id == 6


def test_announced_length_is_not_allocated_up_front():
    decoder = FrameDecoder(expect_preface=False)
    header = frame_pb2.FrameHeader()
    header.response.call_id = 1
    head = header.SerializeToString()
    announced = framing.DEFAULT_MAX_FRAME_LENGTH
    prefix = announced.to_bytes(4, "big") + len(head).to_bytes(4, "big") + head
    assert decoder.feed(prefix + b"abc") == []
    assert decoder.buffered == 3
    assert len(decoder._buf) < 1024


def test_bad_server_prefaces():
    with pytest.raises(ProtocolError, match="HTTP"):
        FrameDecoder().feed(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(ProtocolError, match="bad preface"):
        FrameDecoder().feed(b"SSH-2.0-")
    with pytest.raises(ProtocolError, match="bad preface"):
        FrameDecoder().feed(b"X")  # judged before 8 bytes arrive
    with pytest.raises(ProtocolError, match="version 2"):
        FrameDecoder().feed(b"SOUKRPC\x02")
    assert FrameDecoder().feed(b"SOUKRP") == []  # a prefix of the magic: wait for more


# --- metadata, timeouts, status ---------------------------------------------------------


def test_metadata_entries():
    entries = to_entries([("x-request-id", "r1"), ("trace-bin", b"\x00\xff"), ("x-a", "1"),
                          ("x-a", "2")])
    assert [e.WhichOneof("value") for e in entries] == ["text", "binary", "text", "text"]
    assert from_entries(entries) == [("x-request-id", "r1"), ("trace-bin", b"\x00\xff"),
                                     ("x-a", "1"), ("x-a", "2")]
    assert from_entries(to_entries({"k": "v"})) == [("k", "v")]


@pytest.mark.parametrize("metadata, error", [
    ({"X-Upper": "v"}, ValueError),
    ({"": "v"}, ValueError),
    ({"a b": "v"}, ValueError),
    ({"k" * 65: "v"}, ValueError),
    ({"data-bin": "text"}, TypeError),
    ({"data": b"bytes"}, TypeError),
    ({"data": "tab\there"}, ValueError),
    ({"data": "caf\u00e9"}, ValueError),
    ({"data": "v" * 8193}, ValueError),
])
def test_bad_metadata(metadata, error):
    with pytest.raises(error):
        to_entries(metadata)


def test_timeout_to_ms():
    assert timeout_to_ms(None) == 0
    assert timeout_to_ms(1.0) == 1000
    assert timeout_to_ms(0.05) == 50
    assert timeout_to_ms(0.0001) == 1  # never 0, which would mean "no deadline"
    assert timeout_to_ms(0.0505) == 51


def test_status_codes():
    assert [c.value for c in StatusCode] == list(range(17))
    error = RpcError(99, "odd")
    assert (error.code, error.code_name, error.raw_code) == (2, "UNKNOWN", 99)
    error = RpcError(5, "no such order", b"\x01")
    assert (error.code, error.code_name, error.message, error.details) == \
        (5, "NOT_FOUND", "no such order", b"\x01")
    assert str(error) == "NOT_FOUND (5): no such order"
