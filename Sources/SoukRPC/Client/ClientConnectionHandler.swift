import NIOCore
import SoukRPCCore
import Synchronization

/// How a call ended, as its connection saw it.
enum CallResult: Sendable {
    /// The server answered (with any status).
    case response(ResponseHead, payload: ByteBuffer)
    /// The call failed on this side (deadline, cancel, connection lost, frame too large).
    case failed(RPCError)
    /// The call never reached a server (not written, or above a GOAWAY's last call
    /// id): it may be retried anywhere, whatever the method.
    case unprocessed(String)
}

/// One call on its way: what to send, and how to answer the caller.
///
/// `continuation` and the request fields are set by the calling task before the
/// call is handed to the connection (through ``SubmissionQueue``'s lock, which
/// orders the two); every other field is touched on the connection's event loop only.
final class PendingCall: @unchecked Sendable {
    var continuation: UnsafeContinuation<CallResult, Never>?
    let method: String
    let methodUTF8Count: Int
    let metadata: Metadata
    let payload: ByteBuffer
    let deadline: NIODeadline?

    var callID: UInt64 = 0
    var cancelRequested = false
    var finished = false

    init(method: String, metadata: Metadata, payload: ByteBuffer, deadline: NIODeadline?) {
        self.method = method
        self.methodUTF8Count = method.utf8.count
        self.metadata = metadata
        self.payload = payload
        self.deadline = deadline
    }
}

/// Calls handed from caller tasks to a connection's event loop. The first push
/// after a drain schedules one; later pushes ride along, so concurrent callers
/// share one loop wake-up and one flush.
final class SubmissionQueue: Sendable {
    private let state = Mutex<(calls: [PendingCall], drainScheduled: Bool)>(([], false))

    func push(_ call: PendingCall) -> Bool {
        state.withLock { state in
            state.calls.append(call)
            if state.drainScheduled { return false }
            state.drainScheduled = true
            return true
        }
    }

    func take(into calls: inout [PendingCall]) {
        state.withLock { state in
            swap(&state.calls, &calls)
            state.drainScheduled = false
        }
    }
}

/// The client side of one connection: sends the preface, writes calls, matches
/// answers to callers by call id, honours GOAWAY, and fails what is left when
/// the connection ends. Runs on the connection's event loop.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Event: Sendable {
        /// The server sent GOAWAY: start no new call here.
        case goAway
        /// The connection is closed.
        case closed
    }

    let eventLoop: any EventLoop
    let submissions = SubmissionQueue()
    private let peer: String
    private let limits: FrameLimits
    private let onEvent: @Sendable (Event) -> Void

    private var processor: NIOSingleStepByteToMessageProcessor<FrameDecoder>
    private var prefaceBytes: ByteBuffer?
    private var prefaceChecked = false
    private var pending: [UInt64: PendingCall] = [:]
    private var deadlineTimer = EarliestDeadlineTimer()
    private var submitted: [PendingCall] = []
    private var nextCallID: UInt64 = 1
    private var goAwayLastCallID: UInt64?
    private var goAwayReason = ""
    private var closed = false
    private var context: ChannelHandlerContext?
    private var out = ByteBuffer()
    /// Large payloads written as buffers of their own, not yet flushed.
    private var unflushedWrites = false

    init(eventLoop: any EventLoop, peer: String, limits: FrameLimits, onEvent: @escaping @Sendable (Event) -> Void) {
        self.eventLoop = eventLoop
        self.peer = peer
        self.limits = limits
        self.onEvent = onEvent
        self.processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(limits: limits))
    }

    private var loopBound: NIOLoopBound<ClientConnectionHandler> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: From callers (any thread)

    /// Hands `call` to this connection; its continuation must be set.
    func submit(_ call: PendingCall) {
        if eventLoop.inEventLoop {
            // A caller on this loop (see `RPCClient.eventLoopExecutor()`): write it now.
            start(call)
            unflushedCalls += 1
            if unflushedCalls >= Self.flushEvery {
                flush()
            } else if !flushScheduled {
                flushScheduled = true
                eventLoop.execute {
                    self.flushScheduled = false
                    self.flush()
                }
            }
        } else if submissions.push(call) {
            eventLoop.execute { self.drainSubmissions() }
        }
    }

    /// Calls written to `out` but not flushed.
    private var unflushedCalls = 0
    private var flushScheduled = false
    /// Calls after which `out` is flushed at once rather than at the end of the loop
    /// tick, so that the server starts on a burst while its rest is being written.
    private static let flushEvery = 16

    /// The caller stopped waiting: send Cancel and answer CANCELLED now.
    func cancel(_ call: PendingCall) {
        eventLoop.execute { self.cancelOnLoop(call) }
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        out = context.channel.allocator.buffer(capacity: 4096)
    }

    /// A closed connection keeps no buffer and no reference to its pipeline (the
    /// context would otherwise hold the handler and the handler the context).
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        prefaceBytes = nil
        out = ByteBuffer()
        processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(limits: limits))
    }

    func channelActive(context: ChannelHandlerContext) {
        // Calls may follow at once: the server preface is checked when it arrives.
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Preface.bytes)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        var bytes = unwrapInboundIn(data)
        if !prefaceChecked {
            if var earlier = prefaceBytes {
                earlier.writeBuffer(&bytes)
                bytes = earlier
            }
            guard bytes.readableBytes >= Preface.length else {
                prefaceBytes = bytes
                return
            }
            let received = bytes.readBytes(length: Preface.length)!
            guard received == Preface.bytes else {
                fail(RPCError(.unavailable, "\(peer) does not speak Souk RPC version \(Preface.version): it answered \(received) instead of the preface"))
                return
            }
            prefaceChecked = true
            prefaceBytes = nil
            if bytes.readableBytes == 0 { return }
        }
        do {
            try processor.process(buffer: bytes) { frame in
                try self.handle(frame)
            }
        } catch let error as FramingError {
            fail(RPCError(.unavailable, "the connection to \(peer) broke the protocol: \(error.reason)"))
        } catch {
            fail(RPCError(.unavailable, "the connection to \(peer) failed: \(error)"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(RPCError(.unavailable, goAwayLastCallID == nil
            ? "the connection to \(peer) was lost"
            : "the connection to \(peer) closed after GOAWAY (\(goAwayReason))"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(RPCError(.unavailable, "the connection to \(peer) failed: \(error)"))
    }

    // MARK: Frames

    private func handle(_ frame: Frame) throws(FramingError) {
        switch frame {
        case .response(let head, let payload):
            if let call = pending.removeValue(forKey: head.callID) {
                finish(call, .response(head, payload: payload))
                closeIfDrained()
            }
        case .oversizedResponse(let head, let frameLength):
            if let call = pending.removeValue(forKey: head.callID) {
                finish(call, .failed(RPCError(.resourceExhausted,
                    "the response frame of \(frameLength) bytes exceeds this client's limit of \(limits.maxFrameLength) bytes")))
                closeIfDrained()
            }
        case .goAway(let goAway):
            receivedGoAway(goAway)
        case .ping(let payload):
            FrameWriter.writePong(payload, to: &out)
        case .pong, .empty:
            break
        case .request, .oversizedRequest, .cancel:
            throw FramingError(.invalidArgument, "the server sent a \(frame.kindName) frame")
        }
    }

    private func receivedGoAway(_ goAway: GoAwayHead) {
        let last = min(goAway.lastCallID, goAwayLastCallID ?? .max)
        goAwayLastCallID = last
        goAwayReason = goAway.reason.isEmpty ? RPCStatusCode(wireValue: goAway.code).name : goAway.reason
        onEvent(.goAway)
        // Calls above the last accepted id never ran: they may go elsewhere.
        for (id, call) in pending where id > last {
            pending[id] = nil
            finish(call, .unprocessed("\(peer) went away before accepting the call (\(goAwayReason))"))
        }
        closeIfDrained()
    }

    // MARK: Calls

    func drainSubmissions() {
        submissions.take(into: &submitted)
        for call in submitted { start(call) }
        submitted.removeAll(keepingCapacity: true)
        flush()
    }

    private func start(_ call: PendingCall) {
        if call.cancelRequested {
            finish(call, .failed(RPCError(.cancelled, "the call to \(call.method) was cancelled")))
            return
        }
        guard !closed, goAwayLastCallID == nil, let context else {
            finish(call, .unprocessed("the connection to \(peer) is closing"))
            return
        }
        if let deadline = call.deadline {
            let now = NIODeadline.now()
            guard deadline > now else {
                finish(call, .failed(RPCError(.deadlineExceeded, "the deadline of \(call.method) passed before the call was sent")))
                return
            }
            armDeadlineTimer(for: deadline)
        }
        let id = nextCallID
        nextCallID += 1
        call.callID = id
        pending[id] = call
        var timeoutMs: UInt64 = 0
        if let deadline = call.deadline {
            // Rounded up, so that the server never gives up before the client.
            let remaining = deadline - NIODeadline.now()
            timeoutMs = UInt64(max(1, (remaining.nanoseconds + 999_999) / 1_000_000))
        }
        let payloadSize = call.payload.readableBytes
        FrameWriter.writeRequest(callID: id, method: call.method, methodUTF8Count: call.methodUTF8Count, timeoutMs: timeoutMs,
                                 metadata: call.metadata, payloadSize: payloadSize, to: &out)
        if payloadSize <= 16 * 1024 {
            out.writeImmutableBuffer(call.payload)
        } else {
            // A large payload goes out as its own buffer rather than being copied.
            context.write(wrapOutboundOut(out), promise: nil)
            out = context.channel.allocator.buffer(capacity: 4096)
            context.write(wrapOutboundOut(call.payload), promise: nil)
            unflushedWrites = true
        }
    }

    /// Ends the calls whose deadline has passed, and sets the timer for the next one due.
    private func deadlinesPassed() {
        deadlineTimer.fired()
        let (due, next) = EarliestDeadlineTimer.split(
            pending.values.lazy.compactMap { call in call.deadline.map { (call: call, deadline: $0) } }, at: .now())
        for call in due {
            pending.removeValue(forKey: call.callID)
            // Tell the server to stop working on it.
            FrameWriter.writeCancel(callID: call.callID, to: &out)
            finish(call, .failed(RPCError(.deadlineExceeded, "\(call.method) did not answer before its deadline")))
        }
        if let next { armDeadlineTimer(for: next) }
        guard !due.isEmpty else { return }
        flush()
        closeIfDrained()
    }

    /// Makes the connection's deadline timer fire no later than `deadline`.
    private func armDeadlineTimer(for deadline: NIODeadline) {
        guard deadlineTimer.needsSetting(for: deadline) else { return }
        let loopBound = self.loopBound
        deadlineTimer.set(deadline, on: eventLoop) { loopBound.value.deadlinesPassed() }
    }

    private func cancelOnLoop(_ call: PendingCall) {
        guard !call.finished else { return }
        guard call.callID != 0 else {
            // Not started yet: `start` answers it.
            call.cancelRequested = true
            return
        }
        if pending.removeValue(forKey: call.callID) != nil, !closed {
            FrameWriter.writeCancel(callID: call.callID, to: &out)
            flush()
        }
        finish(call, .failed(RPCError(.cancelled, "the call to \(call.method) was cancelled")))
        closeIfDrained()
    }

    private func finish(_ call: PendingCall, _ result: CallResult) {
        guard !call.finished else { return }
        call.finished = true
        call.continuation!.resume(returning: result)
        call.continuation = nil
    }

    private func flush() {
        unflushedCalls = 0
        guard let context, !closed else { return }
        guard out.readableBytes > 0 else {
            if unflushedWrites {
                unflushedWrites = false
                context.flush()
            }
            return
        }
        unflushedWrites = false
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if out.capacity > 256 * 1024 {
            out = context.channel.allocator.buffer(capacity: 4096)
        } else {
            out.clear()
        }
    }

    /// After GOAWAY, the connection closes once its last accepted call is answered.
    private func closeIfDrained() {
        if goAwayLastCallID != nil, pending.isEmpty, !closed {
            context?.close(promise: nil)
        }
    }

    /// Ends every call here with `error` (and calls not yet written as unprocessed) and closes.
    private func fail(_ error: RPCError) {
        guard !closed else { return }
        flush()
        closed = true
        let calls = pending
        pending.removeAll()
        deadlineTimer.cancel()
        // A Souk server writes its preface before it reads any frame, and a connection it
        // never read from ends with a reset that may swallow even that preface. So without
        // the server's preface no call here ran, and each may go elsewhere whatever its
        // method: e.g. a connection the kernel accepted for a server that was closing.
        for (_, call) in calls { finish(call, prefaceChecked ? .failed(error) : .unprocessed(error.message)) }
        submissions.take(into: &submitted)
        for call in submitted {
            if call.cancelRequested {
                finish(call, .failed(RPCError(.cancelled, "the call to \(call.method) was cancelled")))
            } else {
                finish(call, .unprocessed(error.message))
            }
        }
        submitted.removeAll()
        onEvent(.closed)
        context?.close(promise: nil)
    }
}

/// Callers hold the handler to reach its connection, but only call `submit` and
/// `cancel`, which hand over to the event loop through a lock or `execute`;
/// everything else runs on the loop.
extension ClientConnectionHandler: @unchecked Sendable {}
