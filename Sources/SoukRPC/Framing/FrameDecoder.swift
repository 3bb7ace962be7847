import NIOCore
import SoukRPCCore

/// Cuts the byte stream after the prefaces into frames (PROTOCOL.md section 2).
///
/// Returns nothing until a whole frame is buffered, and never reserves the
/// announced length up front: the buffer grows only with bytes that arrived.
/// A request or response frame over the frame limit whose header fits the
/// header limit is reported as `oversizedRequest`/`oversizedResponse` as soon
/// as its header is in, and its payload is then dropped as it streams in, so
/// that the receiver can end that one call and keep the connection. Anything
/// else that breaks a limit or the grammar throws ``FramingError``, which ends
/// the connection with a GOAWAY.
struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = Frame

    let limits: FrameLimits
    /// Payload bytes of an oversized frame still to drop.
    private(set) var bytesToSkip = 0

    init(limits: FrameLimits) {
        self.limits = limits
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        try decodeFrame(&buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try decodeFrame(&buffer) { return frame }
        if buffer.readableBytes > 0 || bytesToSkip > 0 {
            let missing = bytesToSkip > 0 ? "\(bytesToSkip) payload bytes" : "the rest of a frame (\(buffer.readableBytes) bytes buffered)"
            throw FramingError(.invalidArgument, "the connection ended in the middle of a frame: \(missing) never arrived")
        }
        return nil
    }

    /// Typed-throws core, shared with ``SoukRPCFraming/decodeAll(_:limits:)``.
    mutating func decodeFrame(_ buffer: inout ByteBuffer) throws(FramingError) -> Frame? {
        if bytesToSkip > 0 {
            let count = min(bytesToSkip, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: count)
            bytesToSkip -= count
            if bytesToSkip > 0 { return nil }
        }
        guard let frameLength32 = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              let headerLength32 = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self)
        else { return nil }
        let frameLength = Int(frameLength32)
        let headerLength = Int(headerLength32)
        guard frameLength >= 4 else {
            throw FramingError(.invalidArgument, "frame_length \(frameLength) is less than 4")
        }
        guard headerLength <= frameLength - 4 else {
            throw FramingError(.invalidArgument, "header_length \(headerLength) exceeds frame_length \(frameLength) - 4")
        }
        guard headerLength <= limits.maxHeaderLength else {
            throw FramingError(.resourceExhausted,
                               "header_length \(headerLength) exceeds the limit of \(limits.maxHeaderLength) bytes")
        }
        if frameLength > limits.maxFrameLength {
            // Only the header is buffered; it is bounded by the header limit.
            guard buffer.readableBytes >= 8 + headerLength else { return nil }
            let header = buffer.getSlice(at: buffer.readerIndex + 8, length: headerLength)!
            let frame = try FrameHeaderCodec.decode(header, headerRange: 0..<headerLength, payload: ByteBuffer())
            let tooLarge = "frame_length \(frameLength) exceeds the limit of \(limits.maxFrameLength) bytes"
            let result: Frame
            switch frame {
            case .request(let head, _): result = .oversizedRequest(head, frameLength: frameLength)
            case .response(let head, _): result = .oversizedResponse(head, frameLength: frameLength)
            default: throw FramingError(.resourceExhausted, "a \(frame.kindName) frame's \(tooLarge)")
            }
            buffer.moveReaderIndex(forwardBy: 8 + headerLength)
            bytesToSkip = frameLength - 4 - headerLength
            let count = min(bytesToSkip, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: count)
            bytesToSkip -= count
            return result
        }
        guard buffer.readableBytes >= 4 + frameLength else { return nil }
        let payloadLength = frameLength - 4 - headerLength
        let payload = payloadLength == 0 ? ByteBuffer() : buffer.getSlice(at: buffer.readerIndex + 8 + headerLength, length: payloadLength)!
        let frame = try FrameHeaderCodec.decode(buffer, headerRange: 8..<(8 + headerLength), payload: payload)
        buffer.moveReaderIndex(forwardBy: 4 + frameLength)
        return frame
    }
}

/// Pure entry points into the framing code, for fuzzing and tests.
public enum SoukRPCFraming {
    /// What ``decodeAll(_:limits:expectPreface:)`` made of the bytes.
    public struct Outcome: Sendable, Equatable {
        /// The kind of every frame decoded, in order (`request`, `response`, `cancel`,
        /// `ping`, `pong`, `go_away`, `oversized request`, `oversized response`, `empty`).
        public var frames: [String] = []
        /// The verdict on the preface when one was expected: `souk v1`, `http`, `garbage`, `incomplete`.
        public var preface: String?
        /// The protocol error that would end the connection, if any.
        public var error: String?
        /// The status code of that GOAWAY.
        public var errorCode: Int32?
        /// Bytes left over that do not yet form a frame (and would be an error at EOF).
        public var incompleteBytes: Int = 0
    }

    /// Runs `bytes` through the server's preface check (when `expectPreface`) and the
    /// frame decoder, as if they arrived in one read, and reports what a server would
    /// see. Never traps, whatever the input.
    public static func decodeAll(_ bytes: [UInt8], limits: FrameLimits = .default, expectPreface: Bool = false) -> Outcome {
        var outcome = Outcome()
        var buffer = ByteBuffer(bytes: bytes)
        if expectPreface {
            switch Preface.classify(buffer.readableBytesView) {
            case .needMoreBytes: outcome.preface = "incomplete"; outcome.incompleteBytes = buffer.readableBytes; return outcome
            case .http: outcome.preface = "http"; return outcome
            case .garbage: outcome.preface = "garbage"; return outcome
            case .souk(let version):
                outcome.preface = "souk v\(version)"
                if version != Preface.version { return outcome }
                buffer.moveReaderIndex(forwardBy: Preface.length)
            }
        }
        var decoder = FrameDecoder(limits: limits)
        do {
            while let frame = try decoder.decodeFrame(&buffer) {
                outcome.frames.append(frame.kindName)
                // Touch what a receiver would read, so that a fuzzer reaches it too.
                if case .request(let head, _) = frame { _ = head.methodName }
                if buffer.readableBytes == 0 { break }
            }
            outcome.incompleteBytes = buffer.readableBytes + decoder.bytesToSkip
        } catch {
            outcome.error = error.reason
            outcome.errorCode = error.code.rawValue
        }
        return outcome
    }

    /// ``decodeAll(_:limits:expectPreface:)`` with a frame limit only: the fuzz target's entry.
    public static func decodeAll(_ bytes: [UInt8], maxFrameLength: Int) -> Outcome {
        decodeAll(bytes, limits: FrameLimits(maxFrameLength: maxFrameLength))
    }

    /// The same, reading one byte at a time, as a slow peer would deliver them; the
    /// outcome must equal ``decodeAll(_:limits:expectPreface:)``'s.
    public static func decodeByteAtATime(_ bytes: [UInt8], limits: FrameLimits = .default) -> Outcome {
        var outcome = Outcome()
        var decoder = FrameDecoder(limits: limits)
        var buffer = ByteBuffer()
        do {
            for byte in bytes {
                buffer.writeInteger(byte)
                while let frame = try decoder.decodeFrame(&buffer) {
                    outcome.frames.append(frame.kindName)
                    if buffer.readableBytes == 0 { break }
                }
                buffer.discardReadBytes()
            }
            outcome.incompleteBytes = buffer.readableBytes + decoder.bytesToSkip
        } catch {
            outcome.error = error.reason
            outcome.errorCode = error.code.rawValue
        }
        return outcome
    }
}
