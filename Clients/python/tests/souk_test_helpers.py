"""Helpers of the tests: a scripted fake server (for client behaviour the real
server cannot be made to show on demand) and a raw socket peer (for server
behaviour the client never provokes)."""

from __future__ import annotations

import socket
import threading
import time

from souk_rpc import framing
from souk_rpc._pb import frame_pb2
from souk_rpc.framing import FrameDecoder


class RawPeer:
    """One side of a TCP connection speaking raw frames, with bounded waits."""

    def __init__(self, sock: socket.socket, *, expect_preface: bool, max_frame_length: int = 1 << 30):
        self.sock = sock
        self.decoder = FrameDecoder(expect_preface=expect_preface, max_frame_length=max_frame_length)
        self.events: list = []
        self.received = bytearray()  # every byte read, for reports
        self.eof = False

    @classmethod
    def connect(cls, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> "RawPeer":
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, expect_preface=True)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_some(self, deadline: float) -> bytes:
        """Read what arrives before ``deadline`` (b"" at EOF); raise TimeoutError."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.received += data
        return data

    def read_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and not self.eof:
            self.recv_some(deadline)
        return bytes(self.received[:n])

    def read_all(self, timeout: float = 5.0) -> bytes:
        """Everything until the peer closes (TimeoutError if it does not in time)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            self.recv_some(deadline)
        return bytes(self.received)

    def next_event(self, timeout: float = 5.0):
        """The next preface or frame; None at EOF; TimeoutError when none in time."""
        deadline = time.monotonic() + timeout
        while not self.events:
            if self.eof:
                return None
            data = self.recv_some(deadline)
            if data:
                self.events += self.decoder.feed(data)
        return self.events.pop(0)

    def next_frame(self, timeout: float = 5.0):
        """The next frame, skipping a preface; None at EOF."""
        while True:
            event = self.next_event(timeout)
            if not isinstance(event, framing.Preface):
                return event

    def wait_closed(self, timeout: float = 5.0) -> list:
        """The frames that arrive until the peer closes the connection."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.001, deadline - time.monotonic()))
            if event is None:
                return frames
            frames.append(event)

    def respond(self, call_id: int, payload: bytes = b"", code: int = 0, message: str = "",
                details: bytes = b"", trailing=()) -> None:
        header = frame_pb2.FrameHeader()
        header.response.call_id = call_id
        header.response.code = code
        header.response.status_message = message
        header.response.details = details
        header.response.trailing_metadata.extend(trailing)
        self.send(framing.encode_frame(header, payload))

    def goaway(self, last_call_id: int, code: int = 0, reason: str = "") -> None:
        header = frame_pb2.FrameHeader()
        header.go_away.last_call_id = last_call_id
        header.go_away.code = code
        header.go_away.reason = reason
        self.send(framing.encode_frame(header))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class FakeServer:
    """Accepts one connection and runs ``script(peer)`` on it in a thread; the
    peer has already read and checked the client preface, and sent ``preface``."""

    def __init__(self, script, preface: bytes = framing.CLIENT_PREFACE):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.preface = preface
        self.error: BaseException | None = None
        self.client_preface = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(10)
        try:
            sock, _ = self.listener.accept()
        except OSError as error:
            self.error = error
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = RawPeer(sock, expect_preface=False)
        try:
            self.client_preface = peer.read_exactly(8)
            extra = bytes(peer.received[8:])  # frames may follow the preface at once
            if extra:
                peer.events += peer.decoder.feed(extra)
            if self.preface:
                peer.send(self.preface)
            self.script(peer)
        except BaseException as error:  # reported by join()
            self.error = error
        finally:
            peer.close()
            self.listener.close()

    def join(self, timeout: float = 10.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "fake server script did not finish"
        if self.error is not None:
            raise self.error
