"""Souk RPC framing (PROTOCOL.md sections 1 and 2): prefaces, frame encoding,
and an incremental frame decoder.

Pure functions and a push-style decoder, with no sockets, so that they can be
tested byte by byte.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from ._pb import frame_pb2

MAGIC = b"SOUKRPC"
VERSION = 1
CLIENT_PREFACE = MAGIC + bytes([VERSION])
PREFACE_LENGTH = len(CLIENT_PREFACE)

#: Default limit on a frame's ``frame_length`` (PROTOCOL.md section 2).
DEFAULT_MAX_FRAME_LENGTH = 4 * 1024 * 1024
#: Default limit on a frame's ``header_length``.
DEFAULT_MAX_HEADER_LENGTH = 64 * 1024

_PREFIX = struct.Struct(">II")


class StatusCode(enum.IntEnum):
    """gRPC's canonical status codes (PROTOCOL.md section 3)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


def normalize_code(code: int) -> StatusCode:
    """A received status number as a StatusCode; any other number is UNKNOWN."""
    try:
        return StatusCode(code)
    except ValueError:
        return StatusCode.UNKNOWN


class ProtocolError(Exception):
    """The peer broke PROTOCOL.md; the connection cannot go on."""


def encode_frame(header: "frame_pb2.FrameHeader | bytes", payload: bytes = b"") -> bytes:
    """One frame: ``frame_length header_length header payload``."""
    header_bytes = header if isinstance(header, (bytes, bytearray)) else header.SerializeToString()
    return _PREFIX.pack(4 + len(header_bytes) + len(payload), len(header_bytes)) + header_bytes + payload


def encode_frame_parts(header: "frame_pb2.FrameHeader", payload: bytes = b"") -> list[bytes]:
    """Like :func:`encode_frame`, as buffers to write in order (no copy of a large payload)."""
    header_bytes = header.SerializeToString()
    head = _PREFIX.pack(4 + len(header_bytes) + len(payload), len(header_bytes)) + header_bytes
    if len(payload) <= 16384:
        return [head + payload]
    return [head, payload]


def request_frame(call_id: int, method: str, payload: bytes = b"", timeout_ms: int = 0,
                  metadata=()) -> bytes:
    header = frame_pb2.FrameHeader()
    request = header.request
    request.call_id = call_id
    request.method = method
    request.timeout_ms = timeout_ms
    request.metadata.extend(metadata)
    return encode_frame(header, payload)


def cancel_frame(call_id: int) -> bytes:
    header = frame_pb2.FrameHeader()
    header.cancel.call_id = call_id
    return encode_frame(header)


def ping_frame(payload: int) -> bytes:
    header = frame_pb2.FrameHeader()
    header.ping.payload = payload
    return encode_frame(header)


def pong_frame(payload: int) -> bytes:
    header = frame_pb2.FrameHeader()
    header.pong.payload = payload
    return encode_frame(header)


# --- decoding -----------------------------------------------------------------------


@dataclass
class Preface:
    """The peer's 8-byte preface: ``SOUKRPC`` and its protocol version."""

    version: int


@dataclass
class Frame:
    """A whole frame: its decoded header and its payload bytes."""

    header: "frame_pb2.FrameHeader"
    payload: bytes
    frame_length: int

    @property
    def kind(self) -> str | None:
        """``request``, ``response``, ``cancel``, ``ping``, ``pong``, ``go_away``, or None."""
        return self.header.WhichOneof("kind")


@dataclass
class OversizeFrame:
    """A frame over the receiver's frame limit whose header was within the header
    limit: the header was decoded, the payload read and discarded unbuffered."""

    header: "frame_pb2.FrameHeader"
    frame_length: int

    @property
    def kind(self) -> str | None:
        return self.header.WhichOneof("kind")


class FrameDecoder:
    """Turns the bytes a peer sends into events: a :class:`Preface` first (when
    ``expect_preface``), then :class:`Frame` and :class:`OversizeFrame` objects.

    Push bytes with :meth:`feed` in pieces of any size. Buffers only bytes that
    arrived: an announced length is never allocated up front, and the payload of
    an over-limit frame is skipped as it arrives. Raises :class:`ProtocolError`
    on a bad preface or frame; the decoder is unusable afterwards.
    """

    def __init__(self, *, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
                 max_header_length: int = DEFAULT_MAX_HEADER_LENGTH,
                 expect_preface: bool = True, expected_version: int = VERSION):
        self.max_frame_length = max_frame_length
        self.max_header_length = max_header_length
        self.expected_version = expected_version
        self._buf = bytearray()
        self._pos = 0
        self._state = "preface" if expect_preface else "prefix"
        self._frame_length = 0
        self._header_length = 0
        self._header = None
        self._discard = 0  # payload bytes of an over-limit frame still to skip
        self._failed: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held, not yet consumed (for tests of the no-preallocation rule)."""
        return len(self._buf) - self._pos

    @property
    def at_frame_boundary(self) -> bool:
        """True when no partial frame is held (a clean place for the stream to end)."""
        return self._state == "prefix" and self.buffered == 0

    def feed(self, data: bytes) -> list:
        if self._failed is not None:
            raise self._failed
        events: list = []
        if self._state == "discard":
            data = self._skip(data, events)
        if data:
            self._buf += data
        try:
            while self._step(events):
                pass
        except ProtocolError as error:
            self._failed = error
            raise
        finally:
            if self._pos:
                del self._buf[:self._pos]
                self._pos = 0
        return events

    def _skip(self, data: bytes, events: list) -> bytes:
        n = min(len(data), self._discard)
        self._discard -= n
        if self._discard == 0:
            self._state = "prefix"
            events.append(OversizeFrame(self._header, self._frame_length))
            self._header = None
        return data[n:]

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, n: int) -> bytes:
        chunk = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        return chunk

    def _step(self, events: list) -> bool:
        state = self._state
        if state == "preface":
            if self._available() < PREFACE_LENGTH:
                # A non-Souk peer may say less than 8 bytes; judge a wrong magic early.
                head = bytes(self._buf[self._pos:])
                if head and not MAGIC.startswith(head[:len(MAGIC)]):
                    raise ProtocolError(f"bad preface from peer: {head!r} is not {MAGIC!r}")
                return False
            preface = self._take(PREFACE_LENGTH)
            if preface[:7] != MAGIC:
                kind = " (an HTTP response: not a Souk RPC server)" if preface.startswith(b"HTTP/") else ""
                raise ProtocolError(f"bad preface from peer{kind}: {preface!r}")
            version = preface[7]
            if version != self.expected_version:
                raise ProtocolError(
                    f"peer speaks Souk RPC version {version}; this client speaks {self.expected_version}")
            events.append(Preface(version))
            self._state = "prefix"
            return True
        if state == "prefix":
            if self._available() < 8:
                return False
            frame_length, header_length = _PREFIX.unpack_from(self._buf, self._pos)
            self._pos += 8
            if frame_length < 4:
                raise ProtocolError(f"frame_length {frame_length} is less than 4")
            if header_length > frame_length - 4:
                raise ProtocolError(
                    f"header_length {header_length} exceeds frame_length - 4 = {frame_length - 4}")
            if header_length > self.max_header_length:
                raise ProtocolError(
                    f"header_length {header_length} exceeds the limit of {self.max_header_length}")
            self._frame_length, self._header_length = frame_length, header_length
            self._state = "header"
            return True
        if state == "header":
            if self._available() < self._header_length:
                return False
            raw = self._take(self._header_length)
            header = frame_pb2.FrameHeader()
            try:
                header.ParseFromString(raw)
            except DecodeError as error:
                raise ProtocolError(f"frame header is not a valid FrameHeader: {error}") from None
            self._header = header
            payload_length = self._frame_length - 4 - self._header_length
            if self._frame_length > self.max_frame_length:
                # Skip the payload as it arrives, without buffering it.
                skip = min(self._available(), payload_length)
                self._pos += skip
                self._discard = payload_length - skip
                if self._discard == 0:
                    events.append(OversizeFrame(header, self._frame_length))
                    self._header = None
                    self._state = "prefix"
                    return True
                self._state = "discard"
                return False
            self._state = "payload"
            return True
        if state == "payload":
            payload_length = self._frame_length - 4 - self._header_length
            if self._available() < payload_length:
                return False
            payload = self._take(payload_length)
            events.append(Frame(self._header, payload, self._frame_length))
            self._header = None
            self._state = "prefix"
            return True
        return False  # "discard": handled in feed()
