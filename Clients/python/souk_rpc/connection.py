"""One Souk RPC connection: many unary calls in flight, answered in any order.

Threads: a reader thread decodes the server's frames and completes each call's
future by call id; a writer thread writes the frames callers queue, in queue
order, so that call ids reach the server strictly increasing (PROTOCOL.md
section 3). Callers block on their own future (:meth:`Connection.call`) or
await it (:meth:`Connection.call_async`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import queue
import socket
import threading
import time
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from . import framing
from ._pb import frame_pb2
from .framing import FrameDecoder, ProtocolError, StatusCode, normalize_code
from .metadata import from_entries, to_entries


class RpcError(Exception):
    """A call ended with a status other than OK.

    ``code`` is the canonical status number (a number the client does not know
    is reported as UNKNOWN, 2, with the number received in ``raw_code``);
    ``code_name`` its name, e.g. ``"NOT_FOUND"``; ``message`` the status message;
    ``details`` the serialized ``souk.rpc.v1.ErrorDetails`` bytes, or ``b""``;
    ``trailing_metadata`` the response metadata as ``(key, value)`` pairs.
    ``local`` is True when the client made the status itself (its own deadline,
    a lost connection, a GOAWAY) rather than reading it from a response frame.
    """

    def __init__(self, code: int, message: str = "", details: bytes = b"",
                 trailing_metadata=(), *, local: bool = False, call_id: int | None = None):
        status = normalize_code(code)
        self.raw_code = int(code)
        self.code = int(status)
        self.code_name = status.name
        self.message = message
        self.details = bytes(details)
        self.trailing_metadata = list(trailing_metadata)
        self.local = local
        self.call_id = call_id
        super().__init__(f"{self.code_name} ({self.code}): {message}")

    @property
    def status(self) -> StatusCode:
        return StatusCode(self.code)

    @classmethod
    def from_header(cls, header, call_id: int | None = None) -> "RpcError":
        return cls(header.code, header.status_message, header.details,
                   from_entries(header.trailing_metadata), call_id=call_id)


@dataclass
class RawReply:
    """A successful call's serialized response and its trailing metadata."""

    payload: bytes
    trailing_metadata: list = field(default_factory=list)
    call_id: int = 0


@dataclass
class Reply:
    """A successful call's decoded response and its trailing metadata."""

    response: object
    trailing_metadata: list = field(default_factory=list)
    call_id: int = 0


def timeout_to_ms(timeout: float | None) -> int:
    """The ``timeout_ms`` to send: 0 for no deadline, else the timeout rounded up
    to whole milliseconds (at least 1, since 0 would mean "no deadline")."""
    if timeout is None:
        return 0
    return max(1, math.ceil(timeout * 1000))


class Call:
    """A call in flight, from :meth:`Connection.start_call`."""

    def __init__(self, connection: "Connection", call_id: int, method: str,
                 timeout: float | None):
        self.connection = connection
        self.call_id = call_id
        self.method = method
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self._future: concurrent.futures.Future = concurrent.futures.Future()

    # Completed by the reader thread (or by the connection's teardown).
    def _complete(self, header, payload: bytes) -> None:
        try:
            self._future.set_result((header, payload))
        except concurrent.futures.InvalidStateError:
            pass  # an asyncio waiter gave up and cancelled the future

    def _fail(self, error: RpcError) -> None:
        error.call_id = self.call_id
        try:
            self._future.set_exception(error)
        except concurrent.futures.InvalidStateError:
            pass

    def done(self) -> bool:
        return self._future.done()

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def _deadline_error(self) -> RpcError:
        return RpcError(StatusCode.DEADLINE_EXCEEDED,
                        f"client-side deadline of {self.timeout:g}s exceeded for {self.method} "
                        f"(call {self.call_id}); the call was cancelled",
                        local=True, call_id=self.call_id)

    def _unpack(self, outcome) -> RawReply:
        header, payload = outcome
        if header.code != StatusCode.OK:
            raise RpcError.from_header(header, self.call_id)
        return RawReply(payload, from_entries(header.trailing_metadata), self.call_id)

    def result(self, timeout: float | None = None) -> RawReply:
        """Wait for the answer until the call's deadline (or ``timeout`` seconds,
        whichever is sooner); on the call's deadline send Cancel and raise
        DEADLINE_EXCEEDED. Raises :class:`RpcError` for a non-OK status."""
        remaining = self._remaining()
        by_deadline = remaining is not None and (timeout is None or remaining <= timeout)
        wait = remaining if by_deadline else timeout
        try:
            outcome = self._future.result(wait)
        except concurrent.futures.TimeoutError:
            if not by_deadline:
                raise TimeoutError(f"call {self.call_id} still in flight after {timeout:g}s") from None
            self.cancel()
            if self._future.done() and not self._future.cancelled() and self._future.exception() is None:
                return self._unpack(self._future.result())  # the answer won the race
            raise self._deadline_error() from None
        except BaseException:  # e.g. KeyboardInterrupt: abandon the call
            if not self._future.done():
                self.cancel()
            raise
        return self._unpack(outcome)

    async def result_async(self) -> RawReply:
        """Await the answer; on the call's deadline send Cancel and raise
        DEADLINE_EXCEEDED; when the awaiting task is cancelled, send Cancel."""
        waiter = asyncio.wrap_future(self._future)
        try:
            outcome = await asyncio.wait_for(waiter, self._remaining())
        except TimeoutError:
            self.cancel()
            raise self._deadline_error() from None
        except asyncio.CancelledError:
            self.cancel()
            raise
        return self._unpack(outcome)

    def cancel(self) -> bool:
        """Abandon the call: send Cancel (when it is still pending) and stop
        waiting for its answer; a later :meth:`result` raises CANCELLED. True
        when a Cancel frame was queued."""
        sent = self.connection._abandon(self)
        self._fail(RpcError(StatusCode.CANCELLED, f"call {self.call_id} ({self.method}) was "
                            "cancelled by the client", local=True))
        return sent


class Connection:
    """A client connection to a Souk RPC server. Use :func:`connect`.

    Thread-safe: any number of threads may call at once; each call gets its
    own answer. Also an async API (``call_async``) on the same connection.
    """

    def __init__(self, sock: socket.socket, *, peer: str = "",
                 max_receive_frame_length: int = framing.DEFAULT_MAX_FRAME_LENGTH,
                 max_receive_header_length: int = framing.DEFAULT_MAX_HEADER_LENGTH,
                 send_preface: bytes = framing.CLIENT_PREFACE):
        self.peer = peer
        self._sock = sock
        self._lock = threading.Lock()
        self._pending: dict[int, Call] = {}
        self._pings: dict[int, concurrent.futures.Future] = {}
        self._next_call_id = 1
        self._ping_ids = itertools.count(1)
        self._goaway = None  # the GoAway message received, if any
        self._closed: RpcError | None = None  # why the connection ended
        self._preface: concurrent.futures.Future = concurrent.futures.Future()
        self._decoder = FrameDecoder(max_frame_length=max_receive_frame_length,
                                     max_header_length=max_receive_header_length)
        self._writes: queue.SimpleQueue = queue.SimpleQueue()
        self._writes.put([send_preface])  # frames may follow our preface at once (section 1)
        self._writer = threading.Thread(target=self._write_loop, name=f"souk-rpc-writer {peer}",
                                        daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name=f"souk-rpc-reader {peer}",
                                        daemon=True)
        self._writer.start()
        self._reader.start()

    # --- state -------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while new calls may start (no GOAWAY received, not closed)."""
        return self._closed is None and self._goaway is None

    @property
    def goaway(self):
        """The ``souk.rpc.v1.GoAway`` the server sent, or None."""
        return self._goaway

    @property
    def closed_reason(self) -> RpcError | None:
        return self._closed

    @property
    def server_version(self) -> int | None:
        if self._preface.done() and self._preface.exception() is None:
            return self._preface.result()
        return None

    def wait_for_preface(self, timeout: float | None = None) -> int:
        """Wait for and check the server preface; return its version."""
        try:
            return self._preface.result(timeout)
        except concurrent.futures.TimeoutError:
            raise RpcError(StatusCode.UNAVAILABLE,
                           f"no server preface from {self.peer} within {timeout:g}s",
                           local=True) from None

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection has ended (e.g. after a GOAWAY); True if it has."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def pending_call_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._pending)

    # --- calls -------------------------------------------------------------------

    def _refusal(self) -> RpcError | None:
        """Why a new call cannot start now (call with the lock held)."""
        if self._closed is not None:
            return RpcError(StatusCode.UNAVAILABLE, f"connection to {self.peer} is closed: "
                            f"{self._closed.message}", local=True)
        if self._goaway is not None:
            g = self._goaway
            return RpcError(StatusCode.UNAVAILABLE,
                            f"connection to {self.peer} is going away (GOAWAY "
                            f"{normalize_code(g.code).name}: {g.reason!r}); start calls on a new one",
                            local=True)
        return None

    def start_call(self, method: str, payload: bytes = b"", timeout: float | None = None,
                   metadata=None) -> Call:
        """Send a request frame with ``payload`` (serialized request bytes, sent
        as they are) and return the :class:`Call` in flight. The lower-level API
        under :meth:`call`; raises RpcError UNAVAILABLE when the connection takes
        no new calls."""
        if not isinstance(method, str):
            raise TypeError("method must be a str like '/package.Service/Method'")
        payload = bytes(payload)
        header = frame_pb2.FrameHeader()
        request = header.request
        request.method = method
        request.timeout_ms = timeout_to_ms(timeout)
        request.metadata.extend(to_entries(metadata))
        with self._lock:
            refusal = self._refusal()
            if refusal is not None:
                raise refusal
            call_id = self._next_call_id
            self._next_call_id += 1
            request.call_id = call_id
            call = Call(self, call_id, method, timeout)
            self._pending[call_id] = call
            # Queued under the lock: frames reach the socket in call id order.
            self._writes.put(framing.encode_frame_parts(header, payload))
        return call

    def call_raw(self, method: str, payload: bytes = b"", timeout: float | None = None,
                 metadata=None) -> RawReply:
        """A call with a serialized request; returns the serialized response."""
        if timeout is not None and timeout <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "the deadline had passed before the call",
                           local=True)
        return self.start_call(method, payload, timeout, metadata).result()

    def call_full(self, method: str, request, response_type, timeout: float | None = None,
                  metadata=None) -> Reply:
        """Like :meth:`call`, also returning the trailing metadata."""
        raw = self.call_raw(method, request.SerializeToString(), timeout, metadata)
        return Reply(_decode(response_type, raw.payload, method, raw.call_id),
                     raw.trailing_metadata, raw.call_id)

    def call(self, method: str, request, response_type, timeout: float | None = None,
             metadata=None):
        """Call ``method`` (``/package.Service/Method``) with ``request`` (a protobuf
        message); return a ``response_type`` message or raise :class:`RpcError`.

        ``timeout`` in seconds (None: no deadline) is sent as the call's
        ``timeout_ms``; when it passes the client sends Cancel and raises
        DEADLINE_EXCEEDED. ``metadata``: a dict or a list of ``(key, value)``
        pairs, ``str`` values, ``bytes`` under keys ending in ``-bin``.
        """
        return self.call_full(method, request, response_type, timeout, metadata).response

    async def call_raw_async(self, method: str, payload: bytes = b"",
                             timeout: float | None = None, metadata=None) -> RawReply:
        if timeout is not None and timeout <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "the deadline had passed before the call",
                           local=True)
        return await self.start_call(method, payload, timeout, metadata).result_async()

    async def call_full_async(self, method: str, request, response_type,
                              timeout: float | None = None, metadata=None) -> Reply:
        raw = await self.call_raw_async(method, request.SerializeToString(), timeout, metadata)
        return Reply(_decode(response_type, raw.payload, method, raw.call_id),
                     raw.trailing_metadata, raw.call_id)

    async def call_async(self, method: str, request, response_type,
                         timeout: float | None = None, metadata=None):
        """:meth:`call` for asyncio. Cancelling the awaiting task sends Cancel."""
        return (await self.call_full_async(method, request, response_type, timeout,
                                           metadata)).response

    def _abandon(self, call: Call) -> bool:
        with self._lock:
            if self._pending.pop(call.call_id, None) is None:
                return False
            if self._closed is not None:
                return False
            self._writes.put([framing.cancel_frame(call.call_id)])
            return True

    # --- ping --------------------------------------------------------------------

    def _start_ping(self) -> tuple[int, concurrent.futures.Future]:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed is not None:
                raise RpcError(StatusCode.UNAVAILABLE,
                               f"connection is closed: {self._closed.message}", local=True)
            payload = next(self._ping_ids)
            self._pings[payload] = future
            self._writes.put([framing.ping_frame(payload)])
        return payload, future

    def ping(self, timeout: float = 5.0) -> float:
        """Send a ping and wait for its pong; return the round trip in seconds."""
        start = time.monotonic()
        payload, future = self._start_ping()
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            with self._lock:
                self._pings.pop(payload, None)
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, f"no pong within {timeout:g}s",
                           local=True) from None
        return time.monotonic() - start

    async def ping_async(self, timeout: float = 5.0) -> float:
        start = time.monotonic()
        payload, future = self._start_ping()
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            with self._lock:
                self._pings.pop(payload, None)
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, f"no pong within {timeout:g}s",
                           local=True) from None
        return time.monotonic() - start

    # --- lower level -------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Queue raw bytes for the socket, after whatever is queued (for tests of
        servers: malformed frames and the like)."""
        with self._lock:
            if self._closed is not None:
                raise RpcError(StatusCode.UNAVAILABLE, "connection is closed", local=True)
            self._writes.put([bytes(data)])

    def allocate_call_id(self) -> int:
        """Reserve the next call id without sending anything (for hand-made frames)."""
        with self._lock:
            call_id = self._next_call_id
            self._next_call_id += 1
            return call_id

    # --- closing -----------------------------------------------------------------

    def close(self, timeout: float | None = 2.0) -> None:
        """Close the connection; calls still in flight end with CANCELLED."""
        self._teardown(RpcError(StatusCode.CANCELLED, "connection closed by the client",
                                local=True))
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.close)

    def _teardown(self, error: RpcError) -> None:
        """End the connection once: fail everything pending with ``error``'s code."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = error
            pending, self._pending = self._pending, {}
            pings, self._pings = self._pings, {}
            self._writes.put(None)
        for call in pending.values():
            call._fail(RpcError(error.code, error.message, local=True))
        for future in pings.values():
            try:
                future.set_exception(RpcError(error.code, error.message, local=True))
            except concurrent.futures.InvalidStateError:
                pass
        if not self._preface.done():
            try:
                self._preface.set_exception(RpcError(error.code, error.message, local=True))
            except concurrent.futures.InvalidStateError:
                pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- threads -----------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                item = self._writes.get()
                if item is None:
                    return
                buffers = list(item)
                done = False
                while len(buffers) < 256:  # batch what is queued into few syscalls
                    try:
                        more = self._writes.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        done = True
                        break
                    buffers.extend(more)
                small: list[bytes] = []
                for buf in buffers:
                    if len(buf) > 65536:
                        if small:
                            self._sock.sendall(b"".join(small))
                            small = []
                        self._sock.sendall(buf)
                    else:
                        small.append(buf)
                if small:
                    self._sock.sendall(b"".join(small))
                if done:
                    return
        except OSError as error:
            self._teardown(RpcError(StatusCode.UNAVAILABLE,
                                    f"connection to {self.peer} lost (write failed: {error})",
                                    local=True))

    def _read_loop(self) -> None:
        buffer = bytearray(65536)
        view = memoryview(buffer)
        reason = None
        try:
            while True:
                try:
                    n = self._sock.recv_into(buffer)
                except OSError as error:
                    reason = f"connection to {self.peer} lost: {error}"
                    break
                if n == 0:
                    reason = self._eof_reason()
                    break
                for event in self._decoder.feed(view[:n]):
                    self._handle(event)
        except ProtocolError as error:
            reason = f"protocol error from {self.peer}: {error}"
        except Exception as error:  # a bug here must not leave callers hanging
            reason = f"client reader failed: {error!r}"
        finally:
            self._teardown(RpcError(StatusCode.UNAVAILABLE, reason or "connection ended",
                                    local=True))
            self._writer.join(2.0)
            try:
                self._sock.close()
            except OSError:
                pass

    def _eof_reason(self) -> str:
        where = "" if self._decoder.at_frame_boundary else " in the middle of a frame"
        text = f"connection closed by {self.peer}{where}"
        if self._goaway is not None:
            g = self._goaway
            text += (f" after GOAWAY ({normalize_code(g.code).name}: {g.reason!r}, "
                     f"last_call_id {g.last_call_id})")
        return text

    def _handle(self, event) -> None:
        if isinstance(event, framing.Preface):
            try:
                self._preface.set_result(event.version)
            except concurrent.futures.InvalidStateError:
                pass
            return
        kind = event.kind
        if isinstance(event, framing.OversizeFrame):
            if kind != "response":
                raise ProtocolError(f"{kind or 'empty'} frame of {event.frame_length} bytes over "
                                    f"the client's limit of {self._decoder.max_frame_length}")
            call_id = event.header.response.call_id
            with self._lock:
                call = self._pending.pop(call_id, None)
            if call is not None:
                call._fail(RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"response frame of {event.frame_length} bytes is over the client's limit of "
                    f"{self._decoder.max_frame_length} bytes", local=True))
            return
        header = event.header
        if kind == "response":
            response = header.response
            with self._lock:
                call = self._pending.pop(response.call_id, None)
            if call is not None:  # else cancelled or unknown: discard (section 3, Cancel)
                call._complete(response, event.payload)
        elif kind == "ping":
            with self._lock:
                if self._closed is None:
                    self._writes.put([framing.pong_frame(header.ping.payload)])
        elif kind == "pong":
            with self._lock:
                future = self._pings.pop(header.pong.payload, None)
            if future is not None:
                try:
                    future.set_result(header.pong.payload)
                except concurrent.futures.InvalidStateError:
                    pass
        elif kind == "go_away":
            self._on_goaway(header.go_away)
        elif kind is None:
            pass  # no kind set: ignored (section 2)
        else:  # request, cancel: only a client sends those
            raise ProtocolError(f"the server sent a {kind} frame")

    def _on_goaway(self, goaway) -> None:
        with self._lock:
            self._goaway = goaway
            refused = [call for call_id, call in self._pending.items()
                       if call_id > goaway.last_call_id]
            for call in refused:
                del self._pending[call.call_id]
        name = normalize_code(goaway.code).name
        for call in refused:
            call._fail(RpcError(
                StatusCode.UNAVAILABLE,
                f"the server did not accept call {call.call_id} (GOAWAY {name}: {goaway.reason!r}, "
                f"last_call_id {goaway.last_call_id}); it never ran and may be retried on "
                f"another connection", local=True))


def _decode(response_type, payload: bytes, method: str, call_id: int):
    response = response_type()
    try:
        response.ParseFromString(payload)
    except DecodeError as error:
        raise RpcError(StatusCode.INTERNAL,
                       f"could not decode the response of {method} as "
                       f"{response_type.DESCRIPTOR.full_name}: {error}",
                       local=True, call_id=call_id) from None
    return response


def connect(host: str, port: int, timeout: float | None = 10.0, *,
            max_receive_frame_length: int = framing.DEFAULT_MAX_FRAME_LENGTH,
            max_receive_header_length: int = framing.DEFAULT_MAX_HEADER_LENGTH,
            wait_for_preface: bool = True) -> Connection:
    """Open a connection to a Souk RPC server at ``host:port``.

    ``timeout`` bounds the TCP connect and the wait for the server preface.
    Raises :class:`RpcError` UNAVAILABLE when the server cannot be reached or
    does not answer with a Souk RPC version 1 preface. A context manager.
    """
    peer = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to {peer}: {error}",
                       local=True) from error
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    connection = Connection(sock, peer=peer, max_receive_frame_length=max_receive_frame_length,
                            max_receive_header_length=max_receive_header_length)
    if wait_for_preface:
        try:
            connection.wait_for_preface(timeout)
        except RpcError:
            connection.close()
            raise
    return connection


async def connect_async(host: str, port: int, timeout: float | None = 10.0, **options) -> Connection:
    """:func:`connect` without blocking the event loop."""
    return await asyncio.to_thread(connect, host, port, timeout, **options)
