import Logging
import NIOCore
import SoukProtobuf
import SoukRPCCore
import Synchronization

/// Serves the calls of one connection after its preface: owns the call table
/// (call id → handler task), enforces the limits, answers pings, cancels, and
/// drains with GOAWAY.
///
/// Everything here runs on the connection's event loop. Requests are decoded
/// on the loop straight from the received bytes; each handler runs in its own
/// task; answers come back through a queue that is drained once per loop tick,
/// so that many answers leave in one buffer and one `writev`.
final class ServerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The user event that starts a graceful drain of the connection.
    struct Drain: Sendable {}

    private struct ActiveCall {
        var task: Task<Void, Never>
        var deadlineTimer: Scheduled<Void>?
    }

    private enum State { case open, draining, closed }

    private let core: ServerCore
    private let eventLoop: any EventLoop
    private let executor: (any TaskExecutor)?
    private var processor: NIOSingleStepByteToMessageProcessor<FrameDecoder>
    private let completions = CompletionQueue()
    /// The drained queue's storage, kept to reuse its capacity.
    private var completed: [CompletionQueue.Item] = []

    private var calls: [UInt64: ActiveCall] = [:]
    private var highestCallID: UInt64 = 0
    private var lastAcceptedCallID: UInt64 = 0
    private var state = State.open
    private var context: ChannelHandlerContext?
    private var out: ByteBuffer
    private var lastActivity = NIODeadline.now()
    private var idleTimer: Scheduled<Void>?
    private var graceTimer: Scheduled<Void>?
    private var peer = "unknown"

    init(core: ServerCore, eventLoop: any EventLoop) {
        self.core = core
        self.eventLoop = eventLoop
        self.executor = core.configuration.handlerExecution == .eventLoop ? EventLoopTaskExecutor(eventLoop: eventLoop) : nil
        self.processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(limits: core.configuration.limits))
        self.out = ByteBuffer()
    }

    private var loopBound: NIOLoopBound<ServerConnectionHandler> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        out = context.channel.allocator.buffer(capacity: 4096)
        if context.channel.isActive { connectionStarted(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context: context)
        context.fireChannelActive()
    }

    private var started = false
    private func connectionStarted(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let address = context.channel.remoteAddress {
            peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        }
        lastActivity = .now()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed else { return }
        lastActivity = .now()
        do {
            try processor.process(buffer: unwrapInboundIn(data)) { frame in
                try self.handle(frame)
            }
        } catch let error as FramingError {
            protocolError(error)
        } catch {
            protocolError(FramingError(.invalidArgument, "\(error)"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A connection that ended mid-frame is no error worth a GOAWAY: the peer is gone.
        state = .closed
        idleTimer?.cancel()
        graceTimer?.cancel()
        for call in calls.values {
            call.task.cancel()
            call.deadlineTimer?.cancel()
        }
        calls.removeAll()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Drain {
            drain()
        } else if event is ServerPrefaceHandler.PrefaceAnswered {
            lastActivity = .now()
            scheduleIdleCheck(after: core.configuration.idleTimeout.map(TimeAmount.init))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.logger.debug("connection error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        close()
    }

    // MARK: Frames

    private func handle(_ frame: Frame) throws(FramingError) {
        guard state != .closed else { return }
        switch frame {
        case .request(let head, let payload):
            if try accept(head) { start(head, payload: payload) }
        case .oversizedRequest(let head, let frameLength):
            if try accept(head) {
                answer(head.callID, RPCError(.resourceExhausted,
                    "the request frame of \(frameLength) bytes exceeds this server's limit of \(core.configuration.limits.maxFrameLength) bytes"))
            }
        case .cancel(let callID):
            if let call = calls.removeValue(forKey: callID) {
                call.task.cancel()
                call.deadlineTimer?.cancel()
                closeIfDrained()
            }
        case .ping(let payload):
            FrameWriter.writePong(payload, to: &out)
        case .pong, .empty:
            break
        case .response, .oversizedResponse:
            throw FramingError(.invalidArgument, "a client sent a response frame")
        case .goAway:
            throw FramingError(.invalidArgument, "a client sent a go_away frame")
        }
    }

    /// Checks the call id and the limits; false when the call is not to be served
    /// (after a GOAWAY: no answer at all; over the concurrency limit: answered).
    private func accept(_ head: RequestHead) throws(FramingError) -> Bool {
        guard head.callID > highestCallID else {
            throw FramingError(.invalidArgument, head.callID == 0
                ? "call_id 0 is invalid"
                : "call_id \(head.callID) is not greater than the previous call_id \(highestCallID)")
        }
        highestCallID = head.callID
        guard state == .open else { return false }
        lastAcceptedCallID = head.callID
        if calls.count >= core.configuration.maxConcurrentCallsPerConnection {
            answer(head.callID, RPCError(.resourceExhausted,
                "too many calls in flight on this connection: the limit is \(core.configuration.maxConcurrentCallsPerConnection)"))
            return false
        }
        return true
    }

    private func start(_ head: RequestHead, payload: ByteBuffer) {
        let callID = head.callID
        guard let served = core.methods[head.method] else {
            do {
                _ = try core.router.method(named: head.methodName)
                answer(callID, RPCError(.unimplemented, "unknown method \(head.methodName)"))
            } catch {
                answer(callID, error)
            }
            return
        }
        if let problem = head.metadata.violation {
            answer(callID, RPCError(.invalidArgument, "the request metadata of \(head.methodName) is invalid: \(problem)"))
            return
        }
        let request: any ProtoMessage
        do {
            request = try payload.withUnsafeReadableBytes { bytes throws(RPCError) in try served.method.decodeRequest(bytes) }
        } catch {
            answer(callID, error)
            return
        }
        var deadline: ContinuousClock.Instant? = nil
        var timeout: TimeAmount? = nil
        if head.timeoutMs > 0 {
            // Capped at a year, so that a huge value cannot overflow the clocks.
            let milliseconds = Int64(min(head.timeoutMs, 365 * 24 * 3600 * 1000))
            deadline = .now + .milliseconds(milliseconds)
            timeout = .milliseconds(milliseconds)
        }
        let context = ServerContext(method: served.method.descriptor, deadline: deadline, metadata: head.metadata, peer: peer)
        let completions = self.completions
        let loopBound = self.loopBound
        let eventLoop = self.eventLoop
        let serve: @Sendable () async -> Void = {
            let outcome: Result<any ProtoMessage, RPCError>
            do {
                outcome = .success(try await served.invoke(request, context))
            } catch let error as RPCError {
                outcome = .failure(error)
            } catch is CancellationError {
                outcome = .failure(RPCError(.cancelled, "the call to \(context.method.fullName) was cancelled"))
            } catch {
                // An interceptor threw something that is not a status.
                outcome = .failure(RPCError(.internal, "internal error while serving \(context.method.fullName)"))
            }
            if eventLoop.inEventLoop {
                // Handlers on the event loop answer in place: no queue, no hop.
                loopBound.value.complete(callID, outcome)
            } else if completions.push(.init(callID: callID, outcome: outcome)) {
                eventLoop.execute { loopBound.value.drainCompletions() }
            }
        }
        // A nil preference still costs the task an allocation: ask for none then.
        let task = executor.map { Task(executorPreference: $0, operation: serve) } ?? Task(operation: serve)
        var call = ActiveCall(task: task)
        if let timeout {
            call.deadlineTimer = eventLoop.scheduleTask(in: timeout) { loopBound.value.deadlinePassed(callID, after: timeout) }
        }
        calls[callID] = call
    }

    // MARK: Answers

    /// Answers waiting in `out` for a flush.
    private var unflushedAnswers = 0
    private var flushScheduled = false
    /// Answers after which `out` is flushed at once rather than at the end of the
    /// loop tick: a burst of answers then leaves in a few chunks, so that the peer
    /// starts on the first while this side still works on the rest.
    private static let flushEvery = 16

    /// Ends a call whose handler ran on this event loop.
    func complete(_ callID: UInt64, _ outcome: Result<any ProtoMessage, RPCError>) {
        guard let call = calls.removeValue(forKey: callID) else { return }  // cancelled or timed out
        call.deadlineTimer?.cancel()
        switch outcome {
        case .success(let response): answer(callID, response)
        case .failure(let error): answer(callID, error)
        }
        unflushedAnswers += 1
        if unflushedAnswers >= Self.flushEvery {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            let loopBound = self.loopBound
            eventLoop.execute {
                let handler = loopBound.value
                handler.flushScheduled = false
                handler.lastActivity = .now()
                handler.flush()
                handler.closeIfDrained()
            }
        }
    }

    func drainCompletions() {
        completions.take(into: &completed)
        for item in completed {
            guard let call = calls.removeValue(forKey: item.callID) else { continue }  // cancelled or timed out
            call.deadlineTimer?.cancel()
            switch item.outcome {
            case .success(let response): answer(item.callID, response)
            case .failure(let error): answer(item.callID, error)
            }
        }
        completed.removeAll(keepingCapacity: true)
        lastActivity = .now()
        flush()
        closeIfDrained()
    }

    private func deadlinePassed(_ callID: UInt64, after timeout: TimeAmount) {
        guard let call = calls.removeValue(forKey: callID) else { return }
        call.task.cancel()
        answer(callID, RPCError(.deadlineExceeded,
            "the deadline of \(timeout.nanoseconds / 1_000_000) ms passed before the handler answered"))
        flush()
        closeIfDrained()
    }

    private func answer(_ callID: UInt64, _ error: RPCError) {
        FrameWriter.writeError(callID: callID, error, to: &out)
    }

    private func answer(_ callID: UInt64, _ response: any ProtoMessage) {
        do {
            try response.withPacker { size, pack in
                let limit = core.configuration.limits.maxFrameLength
                if size > limit - 64 {
                    answer(callID, RPCError(.resourceExhausted,
                        "the response of \(size) bytes exceeds the frame limit of \(limit) bytes"))
                    return
                }
                FrameWriter.writeResponseHeader(callID: callID, code: 0, message: "", details: [], metadata: Metadata(),
                                                payloadSize: size, to: &out)
                if size > 0 {
                    out.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { pack($0.baseAddress!) }
                }
            }
        } catch {
            core.logger.error("a response could not be encoded", metadata: ["error": "\(error)"])
            answer(callID, RPCError(.internal, "the response could not be encoded"))
        }
    }

    private func flush() {
        unflushedAnswers = 0
        guard out.readableBytes > 0, let context else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if out.capacity > 256 * 1024 {
            // After a large answer, do not keep its memory for the life of the connection.
            out = context.channel.allocator.buffer(capacity: 4096)
        } else {
            out.clear()
        }
    }

    // MARK: Closing

    private func drain() {
        guard state == .open else { return }
        state = .draining
        FrameWriter.writeGoAway(lastCallID: lastAcceptedCallID, code: .unavailable, reason: "shutting down", to: &out)
        flush()
        if calls.isEmpty {
            close()
        } else {
            let loopBound = self.loopBound
            graceTimer = eventLoop.scheduleTask(in: TimeAmount(core.configuration.shutdownGracePeriod)) {
                loopBound.value.close()
            }
        }
    }

    private func closeIfDrained() {
        if state == .draining && calls.isEmpty { close() }
    }

    private func protocolError(_ error: FramingError) {
        guard state != .closed else { return }
        core.logger.info("protocol error; closing the connection", metadata: ["peer": "\(peer)", "reason": "\(error.reason)"])
        FrameWriter.writeGoAway(lastCallID: lastAcceptedCallID, code: error.code, reason: error.reason, to: &out)
        close()
    }

    func close() {
        guard state != .closed, let context else { return }
        state = .closed
        flush()
        for call in calls.values {
            call.task.cancel()
            call.deadlineTimer?.cancel()
        }
        calls.removeAll()
        idleTimer?.cancel()
        graceTimer?.cancel()
        closeGracefully(context)
    }

    /// Shuts down the sending side only, then lets the client close (it does once it
    /// has read the GOAWAY and its answers) or closes after `lingerTime`. A full close
    /// while the client's frames are still arriving would make the kernel answer them
    /// with a reset, and a reset discards whatever the client had not read yet: the
    /// GOAWAY and the last answers with it.
    static let lingerTime = TimeAmount.seconds(2)

    private func closeGracefully(_ context: ChannelHandlerContext) {
        let channel = context.channel
        context.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
    }

    private func scheduleIdleCheck(after delay: TimeAmount?) {
        guard let delay else { return }
        let loopBound = self.loopBound
        idleTimer = eventLoop.scheduleTask(in: delay) { loopBound.value.idleCheck() }
    }

    private func idleCheck() {
        guard state == .open, let timeout = core.configuration.idleTimeout.map(TimeAmount.init) else { return }
        if !calls.isEmpty {
            scheduleIdleCheck(after: timeout)
            return
        }
        let idleFor = NIODeadline.now() - lastActivity
        if idleFor >= timeout {
            FrameWriter.writeGoAway(lastCallID: lastAcceptedCallID, code: .ok, reason: "idle", to: &out)
            close()
        } else {
            scheduleIdleCheck(after: timeout - idleFor)
        }
    }
}

/// Answers handed from handler tasks to the event loop. The first push after a
/// drain asks for one; later pushes ride along, so a busy connection drains many
/// answers per loop tick with one closure and one flush.
final class CompletionQueue: Sendable {
    struct Item: Sendable {
        var callID: UInt64
        var outcome: Result<any ProtoMessage, RPCError>
    }

    private let state = Mutex<(items: [Item], drainScheduled: Bool)>(([], false))

    /// Adds an answer; true when the caller must schedule a drain.
    func push(_ item: Item) -> Bool {
        state.withLock { state in
            state.items.append(item)
            if state.drainScheduled { return false }
            state.drainScheduled = true
            return true
        }
    }

    /// Moves every queued answer into `items` (which must be empty), keeping both arrays' storage.
    func take(into items: inout [Item]) {
        state.withLock { state in
            swap(&state.items, &items)
            state.drainScheduled = false
        }
    }
}
