import Logging
import NIOCore
import SoukProtobuf
import SoukRPCCore
import Synchronization

/// Serves the calls of one connection: owns the call table (call id → handler
/// task), enforces the limits, answers pings and cancels, applies backpressure,
/// and drains with GOAWAY.
///
/// Everything here runs on the connection's event loop. Requests are decoded
/// on the loop straight from the received bytes; each handler runs in its own
/// task; answers come back through a queue that is drained once per loop tick,
/// so that many answers leave in one buffer and one `writev`.
///
/// Backpressure: while the channel is not writable (its unsent bytes passed the
/// high-water mark), no further frame is taken from the input and no read is
/// asked of the socket, so a peer that does not read its answers stops being
/// read from; it resumes once the answers drain below the low-water mark.
///
/// Timers: there are none per connection. The loop's ``ConnectionSweeper`` calls
/// ``sweep(now:)`` a few times a second and the connection checks its preface,
/// idle and drain clocks there, so accepting and closing cost O(1).
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The user event that starts a graceful drain of the connection.
    struct Drain: Sendable {}

    private struct ActiveCall {
        var task: Task<Void, Never>
        /// When the call's deadline passes, and its timeout for the message then.
        var deadline: (at: NIODeadline, timeout: TimeAmount)?
    }

    private enum State {
        case open
        /// GOAWAY sent: accepted calls are still answered until `closeDeadline`.
        case draining
        case closed
    }

    private let core: ServerCore
    private let eventLoop: any EventLoop
    private let executor: (any TaskExecutor)?
    private var decoder: FrameDecoder
    /// Received bytes not yet cut into frames: an incomplete frame, or frames held
    /// back while the channel is not writable.
    private var inbound = ByteBuffer()
    /// Bytes of `inbound` counted against the server's budget for incomplete frames.
    private var inboundReserved = 0
    /// Unsent answer bytes counted against the server's budget for them.
    private var outboundReserved = 0

    private var calls: [UInt64: ActiveCall] = [:]
    private var deadlineTimer = EarliestDeadlineTimer()
    private var highestCallID: UInt64 = 0
    private var lastAcceptedCallID: UInt64 = 0
    private var state = State.open
    /// After a protocol error: received bytes are dropped unread.
    private var discardingInput = false
    /// The peer shut its sending side: answer what was accepted, then close.
    private var inputClosed = false
    /// A `read` the pipeline asked for while the channel was not writable.
    private var readPending = false
    /// `processInbound` is running (it may be re-entered from a write inside it).
    private var processingInbound = false
    /// The connection used its turn (``framesPerTurn``) and the rest of its frames wait
    /// for the next loop tick, so that the other connections of the loop get theirs.
    private var nextTurnScheduled = false
    /// Frames one connection may have handled before the others of its loop get a turn:
    /// a flood of tiny frames (pings, say) must not hold the loop for long.
    static let framesPerTurn = 256
    /// Pings a connection may send in a row without a call in between; past them it is
    /// ended (GOAWAY RESOURCE_EXHAUSTED), as gRPC ends a client that pings too much.
    static let maxPingsWithoutCall = 1024
    private var pingsWithoutCall = 0
    private var context: ChannelHandlerContext?
    private var out: ByteBuffer
    private var peer = "unknown"
    /// The peer's IP address, which the per-client connection limit counts.
    let peerAddress: String?

    // Clocks the sweep reads.
    private let connectedAt = NIODeadline.now()
    private var prefaceAnswered = false
    /// When the connection last had a call start or end; idle is measured from it.
    private var lastCallActivity = NIODeadline.now()
    /// Calls started or ended since the last sweep: the sweep moves `lastCallActivity`
    /// then, so the hot path reads no clock.
    private var callActivitySinceSweep = false
    private var closeDeadline: NIODeadline?

    init(core: ServerCore, eventLoop: any EventLoop, peerAddress: String?) {
        self.core = core
        self.eventLoop = eventLoop
        self.peerAddress = peerAddress
        self.executor = core.configuration.handlerExecution == .eventLoop ? EventLoopTaskExecutor(eventLoop: eventLoop) : nil
        self.decoder = FrameDecoder(limits: core.configuration.limits)
        self.out = ByteBuffer()
    }

    private var loopBound: NIOLoopBound<ServerConnectionHandler> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        out = context.channel.allocator.buffer(capacity: 4096)
        if let address = context.channel.remoteAddress {
            peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        }
        core.sweeper(for: eventLoop).add(self)
    }

    /// Lets go of everything the connection held: a closed connection keeps no
    /// buffer, no call and no reference to its pipeline.
    func handlerRemoved(context: ChannelHandlerContext) {
        release()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed, !discardingInput else { return }
        var bytes = unwrapInboundIn(data)
        if inbound.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound.writeBuffer(&bytes)
        }
        // While its next turn is scheduled, bytes still arriving from this read wait for it.
        if !nextTurnScheduled { processInbound() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A connection that ended mid-frame is no error worth a GOAWAY: the peer is gone.
        state = .closed
        release()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            // At most the low-water mark is left unsent: the peer reads again.
            reserveOutbound(0)
            processInbound()
            flush()
            resumeReadingIfPossible()
            closeIfDone()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Holds reads back while the peer is not reading its answers (see the type's
    /// documentation), and while the frames already read wait for their next turn.
    func read(context: ChannelHandlerContext) {
        if discardingInput || (context.channel.isWritable && !nextTurnScheduled) {
            context.read()
        } else {
            readPending = true
        }
    }

    /// Issues the read held back, unless the channel is full again or frames still wait.
    private func resumeReadingIfPossible() {
        guard readPending, state != .closed, let context, context.channel.isWritable, !nextTurnScheduled else { return }
        readPending = false
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Drain {
            // Before the server preface nothing may be sent: such a connection just closes.
            if prefaceAnswered { drain(code: .unavailable, reason: "shutting down") } else { close() }
        } else if event is ServerPrefaceHandler.PrefaceAnswered {
            prefaceAnswered = true
            lastCallActivity = .now()
        } else if case ChannelEvent.inputClosed = event {
            inputClosed = true
            if !prefaceAnswered { close() } else { closeIfDone() }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.logger.debug("connection error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        close()
    }

    // MARK: Frames

    /// Cuts and handles the frames in `inbound` while the channel can take answers.
    private func processInbound() {
        // A write inside the loop may report writability at once; the loop goes on by itself.
        guard let context, !processingInbound else { return }
        processingInbound = true
        defer { processingInbound = false }
        var waitingForBytes = false
        var handled = 0
        while state != .closed, !discardingInput, context.channel.isWritable {
            if handled == Self.framesPerTurn {
                scheduleNextTurn()
                break
            }
            do {
                guard let frame = try decoder.decodeFrame(&inbound) else {
                    waitingForBytes = true
                    break
                }
                handled += 1
                try handle(frame)
            } catch {
                protocolError(error)
                return
            }
            // A burst of small answers (errors, pongs) goes out before more is read, so
            // that writability reflects it.
            if out.readableBytes >= Self.flushBytes { flush() }
        }
        if inbound.readableBytes == 0 {
            // Never keep the storage of a large frame, or a received buffer, between reads.
            if inbound.capacity > 256 * 1024 { core.budgets.largeBlockFreed() }
            inbound = Self.noBytes
        } else if inbound.readerIndex > 64 * 1024 && inbound.readerIndex > inbound.readableBytes {
            inbound.discardReadBytes()
        }
        // Only an incomplete frame counts against the budget, not complete frames held
        // back while the peer does not read (those are bounded by the reads not made).
        if waitingForBytes || inbound.readableBytes == 0 { reserveInbound() }
    }

    /// Goes on with the frames left in `inbound` at the next loop tick.
    private func scheduleNextTurn() {
        guard !nextTurnScheduled else { return }
        nextTurnScheduled = true
        let loopBound = self.loopBound
        eventLoop.execute {
            let handler = loopBound.value
            handler.nextTurnScheduled = false
            handler.processInbound()
            handler.flush()
            handler.resumeReadingIfPossible()
            handler.closeIfDone()
        }
    }

    private func handle(_ frame: Frame) throws(FramingError) {
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
                callEnded()
                closeIfDone()
            }
        case .ping(let payload):
            pingsWithoutCall += 1
            guard pingsWithoutCall <= Self.maxPingsWithoutCall else {
                throw FramingError(.resourceExhausted,
                    "too many pings: \(Self.maxPingsWithoutCall) in a row without a call; ping to check a connection, not to load it")
            }
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
        pingsWithoutCall = 0
        guard state == .open else { return false }
        lastAcceptedCallID = head.callID
        callActivitySinceSweep = true
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
            var outcome: Outcome
            do {
                outcome = .success(Reply(message: try await served.invoke(request, context)))
            } catch let error as RPCError {
                outcome = .failure(error)
            } catch is CancellationError {
                outcome = .failure(RPCError(.cancelled, "the call to \(context.method.fullName) was cancelled"))
            } catch {
                // An interceptor threw something that is not a status.
                outcome = .failure(RPCError(.internal, "internal error while serving \(context.method.fullName)"))
            }
            outcome.addTrailingMetadata(context.trailingMetadata)
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
            let at = NIODeadline.now() + timeout
            call.deadline = (at, timeout)
            armDeadlineTimer(for: at)
        }
        calls[callID] = call
    }

    // MARK: Answers

    private let completions = CompletionQueue()
    /// The drained queue's storage, kept to reuse its capacity.
    private var completed: [CompletionQueue.Item] = []
    /// Answers waiting in `out` for a flush.
    private var unflushedAnswers = 0
    private var flushScheduled = false
    /// Answers after which `out` is flushed at once rather than at the end of the
    /// loop tick: a burst of answers then leaves in a few chunks, so that the peer
    /// starts on the first while this side still works on the rest.
    private static let flushEvery = 16
    /// Bytes in `out` after which it is flushed at once.
    private static let flushBytes = 64 * 1024
    private static let noBytes = ByteBuffer()

    /// Ends a call whose handler ran on this event loop.
    func complete(_ callID: UInt64, _ outcome: Outcome) {
        guard calls.removeValue(forKey: callID) != nil else { return }  // cancelled or timed out
        answer(callID, outcome)
        callEnded()
        unflushedAnswers += 1
        if unflushedAnswers >= Self.flushEvery {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            let loopBound = self.loopBound
            eventLoop.execute {
                let handler = loopBound.value
                handler.flushScheduled = false
                handler.flush()
                handler.closeIfDone()
            }
        }
    }

    func drainCompletions() {
        completions.take(into: &completed)
        for item in completed {
            guard calls.removeValue(forKey: item.callID) != nil else { continue }  // cancelled or timed out
            answer(item.callID, item.outcome)
        }
        completed.removeAll(keepingCapacity: true)
        callEnded()
        flush()
        closeIfDone()
    }

    /// Ends the calls whose deadline has passed, and sets the timer for the next one due.
    private func deadlinesPassed() {
        deadlineTimer.fired()
        let (due, next) = EarliestDeadlineTimer.split(
            calls.lazy.compactMap { id, call in call.deadline.map { (call: (id, $0.timeout), deadline: $0.at) } }, at: .now())
        for (callID, timeout) in due {
            guard let call = calls.removeValue(forKey: callID) else { continue }
            call.task.cancel()
            answer(callID, RPCError(.deadlineExceeded,
                "the deadline of \(timeout.nanoseconds / 1_000_000) ms passed before the handler answered"))
        }
        if let next { armDeadlineTimer(for: next) }
        guard !due.isEmpty else { return }
        callEnded()
        flush()
        closeIfDone()
    }

    /// Makes the connection's deadline timer fire no later than `deadline`.
    private func armDeadlineTimer(for deadline: NIODeadline) {
        guard deadlineTimer.needsSetting(for: deadline) else { return }
        let loopBound = self.loopBound
        deadlineTimer.set(deadline, on: eventLoop) { loopBound.value.deadlinesPassed() }
    }

    private func callEnded() {
        callActivitySinceSweep = true
    }

    private func answer(_ callID: UInt64, _ outcome: Outcome) {
        switch outcome {
        case .success(let reply): answer(callID, reply.message, metadata: reply.metadata)
        case .failure(let error): answer(callID, error)
        }
    }

    private func answer(_ callID: UInt64, _ error: RPCError) {
        FrameWriter.writeError(callID: callID, error.boundedForWire(), to: &out)
    }

    private func answer(_ callID: UInt64, _ response: any ProtoMessage, metadata: Metadata) {
        do {
            try response.withPacker { size, pack in
                let limit = core.configuration.limits.maxFrameLength
                let frameLength = FrameWriter.responseFrameLength(callID: callID, metadata: metadata, payloadSize: size)
                if frameLength > limit {
                    answer(callID, RPCError(.resourceExhausted,
                        "the response of \(size) bytes (a frame of \(frameLength) bytes) exceeds the frame limit of \(limit) bytes"))
                    return
                }
                let headerLength = frameLength - 4 - size
                if headerLength > core.configuration.limits.maxHeaderLength {
                    answer(callID, RPCError(.resourceExhausted,
                        "the answer's trailing metadata makes a header of \(headerLength) bytes, over the limit of \(core.configuration.limits.maxHeaderLength)"))
                    return
                }
                if let refusal = unsentAnswersRefusal(adding: frameLength) {
                    if frameLength > 256 * 1024 { core.budgets.largeBlockFreed() }
                    answer(callID, refusal)
                    return
                }
                FrameWriter.writeResponseHeader(callID: callID, code: 0, message: "", details: [], metadata: metadata,
                                                payloadSize: size, to: &out)
                if size > 0 {
                    out.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { pack($0.baseAddress!) }
                }
                if out.readableBytes >= Self.flushBytes { flush() }
            }
        } catch {
            core.logger.error("a response could not be encoded", metadata: ["error": "\(error)"])
            answer(callID, RPCError(.internal, "the response could not be encoded"))
        }
    }

    /// RESOURCE_EXHAUSTED in place of an answer that would take the bytes waiting
    /// for this peer, or for all peers, past their limit; nil when it fits.
    private func unsentAnswersRefusal(adding bytes: Int) -> RPCError? {
        let configuration = core.configuration
        let waitingHere = outboundReserved + out.readableBytes
        if waitingHere + bytes > configuration.maxUnsentBytesPerConnection {
            return RPCError(.resourceExhausted,
                "the answer of \(bytes) bytes was dropped: \(waitingHere) bytes of earlier answers on this connection are not read yet (the limit is \(configuration.maxUnsentBytesPerConnection))")
        }
        if core.budgets.unsentBytes + bytes > configuration.maxUnsentBytes {
            return RPCError(.resourceExhausted,
                "the answer of \(bytes) bytes was dropped: the server holds too many unread answers; read faster or retry later")
        }
        return nil
    }

    private func flush() {
        unflushedAnswers = 0
        guard out.readableBytes > 0, let context else { return }
        // `out` is emptied before the write: writing can change the channel's writability,
        // and NIO tells this handler so at once, from inside the write, where a flush must
        // find nothing left to send twice.
        let written = out
        if out.capacity > 256 * 1024 {
            // After a large answer, do not keep its memory for the life of the connection.
            out = context.channel.allocator.buffer(capacity: 4096)
            core.budgets.largeBlockFreed()
        } else {
            out.clear()
        }
        context.writeAndFlush(wrapOutboundOut(written), promise: nil)
        if !context.channel.isWritable {
            // What the socket did not take now waits in the channel: count it.
            let unsent = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
            reserveOutbound(unsent)
        }
    }

    // MARK: Budgets

    private func reserveOutbound(_ bytes: Int) {
        guard bytes != outboundReserved else { return }
        core.budgets.addUnsent(bytes - outboundReserved)
        outboundReserved = bytes
    }

    /// Counts a large incomplete frame against the server's input budget; past the
    /// budget the connection is refused, so that many peers each sending most of a
    /// large frame cannot take the process's memory.
    private func reserveInbound() {
        let held = inbound.readableBytes > Self.freeInboundBytes ? inbound.readableBytes : 0
        guard held != inboundReserved else { return }
        if held > inboundReserved,
           !core.budgets.reserveIncomplete(held - inboundReserved, limit: core.configuration.maxIncompleteFrameBytes) {
            protocolError(FramingError(.resourceExhausted,
                "the server holds too many incomplete frames (\(core.configuration.maxIncompleteFrameBytes) bytes across all connections); send the frame again later"))
            return
        }
        if held < inboundReserved { core.budgets.releaseIncomplete(inboundReserved - held) }
        inboundReserved = held
    }

    /// Incomplete frames up to this size are not counted: every connection may hold one.
    private static let freeInboundBytes = 64 * 1024

    /// Gives back every byte this connection held and counted.
    private func release() {
        if inbound.capacity > 256 * 1024 || out.capacity > 256 * 1024 { core.budgets.largeBlockFreed() }
        for call in calls.values {
            call.task.cancel()
        }
        calls.removeAll()
        deadlineTimer.cancel()
        inbound = Self.noBytes
        if inboundReserved > 0 { core.budgets.releaseIncomplete(inboundReserved) }
        inboundReserved = 0
        reserveOutbound(0)
        out = Self.noBytes
        core.sweeper(for: eventLoop).remove(self)
    }

    // MARK: Closing

    /// Sends GOAWAY: the calls accepted so far are answered (within the grace
    /// period), later ones never run, and the connection then closes.
    private func drain(code: RPCStatusCode, reason: String) {
        guard state == .open else { return }
        state = .draining
        closeDeadline = .now() + TimeAmount(core.configuration.shutdownGracePeriod)
        FrameWriter.writeGoAway(lastCallID: lastAcceptedCallID, code: code, reason: reason, to: &out)
        flush()
        closeIfDone()
    }

    /// Closes once nothing is left to answer: after GOAWAY, or when the peer shut its
    /// sending side (and, the channel being writable, every complete frame it sent was taken).
    private func closeIfDone() {
        guard state != .closed, calls.isEmpty else { return }
        if state == .draining || (inputClosed && !nextTurnScheduled && (context?.channel.isWritable ?? true)) { close() }
    }

    /// A violation of PROTOCOL.md: GOAWAY naming it, nothing more is read, the
    /// calls already accepted are answered, then the connection closes.
    private func protocolError(_ error: FramingError) {
        guard state != .closed else { return }
        core.protocolErrorObserved(error, peer: peer)
        discardingInput = true
        inbound = Self.noBytes
        if inboundReserved > 0 { core.budgets.releaseIncomplete(inboundReserved) }
        inboundReserved = 0
        if state == .open {
            drain(code: error.code, reason: error.reason)
        } else {
            // Already draining (a GOAWAY went out): its accepted calls are still answered.
            closeIfDone()
        }
        // What still arrives is dropped unread: read it whatever the channel's state.
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    func close() {
        guard state != .closed, let context else { return }
        state = .closed
        flush()
        release()
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
        if inputClosed {
            // The peer sends nothing more, so no reset can discard what it has not read; but
            // NIO turns an output shutdown into a full close now, which would drop the writes
            // still pending: close once the last of them went out.
            channel.writeAndFlush(ByteBuffer()).whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
        // The backstop, for a peer that never reads nor closes. Weak, so that a channel that
        // closed before does not keep its memory until then.
        eventLoop.scheduleTask(in: Self.lingerTime) { [weak channel] in channel?.close(promise: nil) }
    }

    // MARK: Clocks

    /// Checks the connection's clocks: the client's preface, idleness, the end of a drain.
    func sweep(now: NIODeadline) {
        if callActivitySinceSweep {
            callActivitySinceSweep = false
            lastCallActivity = now
        }
        switch state {
        case .closed:
            return
        case .draining:
            if let closeDeadline, now >= closeDeadline { close() }
        case .open:
            guard prefaceAnswered else {
                // No preface, no protocol: nothing is sent, the connection is closed.
                if now - connectedAt >= TimeAmount(core.configuration.prefaceTimeout) {
                    state = .closed
                    release()
                    context?.close(promise: nil)
                }
                return
            }
            guard calls.isEmpty, let timeout = core.configuration.idleTimeout.map(TimeAmount.init) else { return }
            if now - lastCallActivity >= timeout {
                drain(code: .ok, reason: "idle")
            }
        }
    }
}

/// A handler's successful answer: its message and the trailing metadata it added.
struct Reply: Sendable {
    var message: any ProtoMessage
    var metadata = Metadata()
}

/// How a handler's call ended.
typealias Outcome = Result<Reply, RPCError>

extension Outcome {
    /// Adds what the handler put in ``ServerContext/trailingMetadata``; before an error's own.
    mutating func addTrailingMetadata(_ trailing: TrailingMetadata) {
        let added = trailing.entries
        guard !added.isEmpty else { return }
        switch self {
        case .success(var reply):
            reply.metadata = added
            self = .success(reply)
        case .failure(var error):
            var metadata = added
            for (key, value) in error.metadata { metadata.append(key, value) }
            error.metadata = metadata
            self = .failure(error)
        }
    }
}

/// Answers handed from handler tasks to the event loop. The first push after a
/// drain asks for one; later pushes ride along, so a busy connection drains many
/// answers per loop tick with one closure and one flush.
final class CompletionQueue: Sendable {
    struct Item: Sendable {
        var callID: UInt64
        var outcome: Outcome
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
