import NIOCore
import NIOEmbedded
import SoukProtobuf
@testable import SoukRPC
import SoukRPCCore
import SoukWire
import Testing

/// Frames written by the transport's own writer, decoded by protobuf-c, and back.
@Suite("Frame headers and the frame decoder")
struct FramingTests {
    static let method = "/souk.test.v1.InteropService/UnaryCall"

    static func sampleStream() -> [UInt8] {
        var buffer = ByteBuffer()
        var metadata = Metadata()
        metadata.append("x-request-id", "r1")
        metadata.append("trace-bin", binary: [0, 1, 2])
        FrameWriter.writeRequest(callID: 1, method: method, methodUTF8Count: method.utf8.count, timeoutMs: 1000,
                                 metadata: metadata, payloadSize: 3, to: &buffer)
        buffer.writeBytes([1, 2, 3])
        FrameWriter.writeRequest(callID: 2, method: method, methodUTF8Count: method.utf8.count, timeoutMs: 0,
                                 metadata: Metadata(), payloadSize: 0, to: &buffer)
        FrameWriter.writePing(7, to: &buffer)
        FrameWriter.writeCancel(callID: 2, to: &buffer)
        FrameWriter.writeGoAway(lastCallID: 2, code: .unavailable, reason: "shutting down", to: &buffer)
        FrameWriter.writeError(callID: 3, RPCError(.notFound, "no such order"), to: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func decodeAll(_ bytes: [UInt8], limits: FrameLimits = .default) throws -> [Frame] {
        var decoder = FrameDecoder(limits: limits)
        var buffer = ByteBuffer(bytes: bytes)
        var frames: [Frame] = []
        while let frame = try decoder.decodeFrame(&buffer) { frames.append(frame) }
        return frames
    }

    @Test("the worked example of PROTOCOL.md decodes as documented")
    func workedExample() throws {
        let hex = """
            00 00 00 5d 00 00 00 3d 0a 3b 08 01 12 20 2f 73 6f 75 6b 2e 72 70 63 2e 76 31 2e 48 65 61 6c 74 68
            53 65 72 76 69 63 65 2f 43 68 65 63 6b 18 e8 07 22 12 0a 0c 78 2d 72 65 71 75 65 73 74 2d 69 64 12
            02 72 31 0a 1a 73 6f 75 6b 2e 75 73 65 72 73 2e 76 31 2e 55 73 65 72 73 53 65 72 76 69 63 65
            """
        let bytes = hex.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
        #expect(bytes.count == 97)
        let frames = try Self.decodeAll(bytes)
        guard frames.count == 1, case .request(let head, let payload) = frames[0] else {
            Issue.record("expected one request, got \(frames.map(\.kindName))")
            return
        }
        #expect(head.callID == 1)
        #expect(head.methodName == "/souk.rpc.v1.HealthService/Check")
        #expect(head.timeoutMs == 1000)
        #expect(head.metadata == Metadata(["x-request-id": "r1"]))
        let request = try HealthCheckRequest(serializedBytes: Array(payload.readableBytesView))
        #expect(request.service == "souk.users.v1.UsersService")

        // And the documented answers, byte for byte, from the writer.
        var buffer = ByteBuffer()
        var response = HealthCheckResponse()
        response.status = .serving
        let body = try response.serializedBytes()
        FrameWriter.writeResponseHeader(callID: 1, code: 0, message: "", details: [], metadata: Metadata(),
                                        payloadSize: body.count, to: &buffer)
        buffer.writeBytes(body)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0x0a, 0, 0, 0, 4, 0x12, 0x02, 0x08, 0x01, 0x08, 0x01])
        buffer.clear()
        FrameWriter.writeError(callID: 2, RPCError(.notFound, "no such order"), to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0x19, 0, 0, 0, 0x15, 0x12, 0x13, 0x08, 0x02, 0x10, 0x05, 0x1a, 0x0d]
            + Array("no such order".utf8))
        buffer.clear()
        FrameWriter.writePing(7, to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 8, 0, 0, 0, 4, 0x22, 0x02, 0x08, 0x07])
        buffer.clear()
        FrameWriter.writeCancel(callID: 3, to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 8, 0, 0, 0, 4, 0x1a, 0x02, 0x08, 0x03])
        buffer.clear()
        FrameWriter.writeGoAway(lastCallID: 2, code: .unavailable, reason: "shutting down", to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0x19, 0, 0, 0, 0x15, 0x32, 0x13, 0x08, 0x02, 0x10, 0x0e, 0x1a, 0x0d]
            + Array("shutting down".utf8))
    }

    @Test("headers written by hand decode with the generated protobuf-c codec, field for field")
    func writerAgreesWithProtobufC() throws {
        for seed in 0..<200 {
            var random = SeededRandom(seed: UInt64(seed))
            let callID = UInt64.random(in: 1...UInt64.max, using: &random)
            let code = Int32.random(in: 0...16, using: &random)
            let message = String((0..<Int.random(in: 0...40, using: &random)).map { _ in "aé\t\n😀\u{10FFFF}z".randomElement(using: &random)! })
            var metadata = Metadata()
            for index in 0..<Int.random(in: 0...3, using: &random) {
                if Bool.random(using: &random) {
                    metadata.append("k\(index)-bin", binary: (0..<Int.random(in: 0...5, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
                } else {
                    metadata.append("k\(index)", String(repeating: "v", count: Int.random(in: 0...3, using: &random)))
                }
            }
            let details: [UInt8] = (0..<Int.random(in: 0...4, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }

            var buffer = ByteBuffer()
            FrameWriter.writeResponseHeader(callID: callID, code: code, message: message, details: details, metadata: metadata,
                                            payloadSize: 0, to: &buffer)
            let headerLength = Int(buffer.getInteger(at: 4, as: UInt32.self)!)
            let header = try FrameHeader(serializedBytes: Array(buffer.readableBytesView.dropFirst(8)))
            #expect(headerLength == buffer.readableBytes - 8)
            guard case .response(let response) = header.kind else {
                Issue.record("not a response: \(header)")
                continue
            }
            #expect(response.callId == callID)
            #expect(response.code.rawValue == code)
            #expect(response.statusMessage == message)
            #expect(response.details == details)
            #expect(response.trailingMetadata.count == metadata.count)
            for (entry, (key, value)) in zip(response.trailingMetadata, metadata.entries) {
                #expect(entry.key == key)
                switch value {
                case .text(let text): #expect(entry.value == .text(text))
                case .binary(let bytes): #expect(entry.value == .binary(bytes))
                }
            }

            // And back: protobuf-c's encoding through the hand-written reader.
            var request = RequestHeader()
            request.callId = callID
            request.method = "/a.B/\(message)"
            request.timeoutMs = UInt64(seed)
            request.metadata = response.trailingMetadata
            var frameHeader = FrameHeader()
            frameHeader.kind = .request(request)
            let headerBytes = try frameHeader.serializedBytes()
            var frame = ByteBuffer()
            frame.writeInteger(UInt32(4 + headerBytes.count + 2))
            frame.writeInteger(UInt32(headerBytes.count))
            frame.writeBytes(headerBytes)
            frame.writeBytes([9, 9])
            let frames = try Self.decodeAll(Array(frame.readableBytesView))
            guard frames.count == 1, case .request(let head, let payload) = frames[0] else {
                Issue.record("expected a request")
                continue
            }
            #expect(head.callID == callID)
            #expect(head.methodName == request.method)
            #expect(head.timeoutMs == UInt64(seed))
            #expect(head.metadata == metadata)
            #expect(Array(payload.readableBytesView) == [9, 9])
        }
    }

    @Test("many frames in one read come out in order")
    func manyFramesInOneRead() throws {
        let frames = try Self.decodeAll(Self.sampleStream())
        #expect(frames.map(\.kindName) == ["request", "request", "ping", "cancel", "go_away", "response"])
        if case .request(let head, let payload) = frames[0] {
            #expect(head.callID == 1)
            #expect(Array(payload.readableBytesView) == [1, 2, 3])
            #expect(head.metadata.values(for: "trace-bin") == [.binary([0, 1, 2])])
        }
        if case .goAway(let goAway) = frames[4] {
            #expect(goAway == GoAwayHead(lastCallID: 2, code: 14, reason: "shutting down"))
        }
    }

    @Test("byte-at-a-time delivery yields the same frames as one read")
    func byteAtATime() throws {
        let stream = Self.sampleStream()
        let whole = SoukRPCFraming.decodeAll(stream)
        let trickled = SoukRPCFraming.decodeByteAtATime(stream)
        #expect(whole == trickled)
        #expect(whole.frames.count == 6)
        #expect(whole.error == nil)
    }

    @Test("the decoder in a pipeline, fed one byte at a time, emits each frame once it is complete")
    func embeddedChannelByteAtATime() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(limits: .default)))
        var kinds: [String] = []
        for byte in Self.sampleStream() {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            while let frame = try channel.readInbound(as: Frame.self) { kinds.append(frame.kindName) }
        }
        #expect(kinds == ["request", "request", "ping", "cancel", "go_away", "response"])
        let finished = try channel.finish()
        #expect(finished.isClean)
    }

    @Test("a request with a zero-length payload and a header with no kind are both frames")
    func zeroLengths() throws {
        // The smallest frame: no header fields, no payload.
        let frames = try Self.decodeAll([0, 0, 0, 4, 0, 0, 0, 0])
        #expect(frames.map(\.kindName) == ["empty"])
        var buffer = ByteBuffer()
        FrameWriter.writeRequest(callID: 5, method: "/a.B/C", methodUTF8Count: 6, timeoutMs: 0, metadata: Metadata(),
                                 payloadSize: 0, to: &buffer)
        let requests = try Self.decodeAll(Array(buffer.readableBytesView))
        guard case .request(let head, let payload) = requests.first else {
            Issue.record("expected a request")
            return
        }
        #expect(head.callID == 5)
        #expect(payload.readableBytes == 0)
    }

    static func request(payloadSize: Int, id: UInt64 = 1) -> [UInt8] {
        var buffer = ByteBuffer()
        FrameWriter.writeRequest(callID: id, method: "/a.B/C", methodUTF8Count: 6, timeoutMs: 0, metadata: Metadata(),
                                 payloadSize: payloadSize, to: &buffer)
        buffer.writeRepeatingByte(7, count: payloadSize)
        return Array(buffer.readableBytesView)
    }

    @Test("a frame of exactly the limit is accepted; one byte over is reported, its payload skipped, and the next frame read")
    func exactlyTheLimitAndOneOver() throws {
        let atLimit = Self.request(payloadSize: 1000)
        let frameLength = atLimit.count - 4
        let limits = FrameLimits(maxFrameLength: frameLength)
        let exact = try Self.decodeAll(atLimit, limits: limits).map(\.kindName)
        #expect(exact == ["request"])

        let overLimit = Self.request(payloadSize: 1001, id: 1) + Self.request(payloadSize: 10, id: 2)
        let outcome = SoukRPCFraming.decodeAll(overLimit, limits: limits)
        #expect(outcome.frames == ["oversized request", "request"])
        #expect(outcome.error == nil)
        #expect(SoukRPCFraming.decodeByteAtATime(overLimit, limits: limits) == outcome)
    }

    @Test("an over-limit payload is skipped as it streams in, never buffered")
    func oversizedPayloadIsNotBuffered() throws {
        var decoder = FrameDecoder(limits: FrameLimits(maxFrameLength: 100))
        let bytes = Self.request(payloadSize: 1_000_000)
        var buffer = ByteBuffer(bytes: Array(bytes.prefix(64)))
        let first = try decoder.decodeFrame(&buffer)
        #expect(first?.kindName == "oversized request")
        var fed = 64
        while fed < bytes.count {
            let chunk = Array(bytes[fed..<min(bytes.count, fed + 65536)])
            fed += chunk.count
            buffer.writeBytes(chunk)
            let next = try decoder.decodeFrame(&buffer)
            #expect(next == nil)
            #expect(buffer.readableBytes == 0)
        }
        #expect(decoder.bytesToSkip == 0)
    }

    @Test("an over-limit frame that is not a request, or a header over its limit, ends the connection with RESOURCE_EXHAUSTED")
    func overLimitNonRequest() {
        var ping = ByteBuffer()
        FrameWriter.writePing(1, to: &ping)
        // A ping with 100 bytes of junk payload is over a 50-byte frame limit.
        var bytes = Array(ping.readableBytesView)
        bytes[3] = 8 + 100
        bytes += Array(repeating: 0, count: 100)
        let outcome = SoukRPCFraming.decodeAll(bytes, limits: FrameLimits(maxFrameLength: 50))
        #expect(outcome.errorCode == RPCStatusCode.resourceExhausted.rawValue)

        let header = SoukRPCFraming.decodeAll([0, 2, 0, 0, 0, 1, 0, 1], limits: FrameLimits())
        #expect(header.errorCode == RPCStatusCode.resourceExhausted.rawValue)
        #expect(header.error?.contains("header_length") == true)
    }

    @Test("a header_length larger than its frame, or a header that is not protobuf, is a protocol error")
    func malformedHeaders() {
        let tooLong = SoukRPCFraming.decodeAll([0, 0, 0, 4, 0, 0, 0, 1, 0x08])
        #expect(tooLong.errorCode == RPCStatusCode.invalidArgument.rawValue)
        let shortFrame = SoukRPCFraming.decodeAll([0, 0, 0, 3, 0, 0, 0, 0])
        #expect(shortFrame.errorCode == RPCStatusCode.invalidArgument.rawValue)
        // Field 1 (request) with a length past the end of the header.
        let notProtobuf = SoukRPCFraming.decodeAll([0, 0, 0, 6, 0, 0, 0, 2, 0x0a, 0x05])
        #expect(notProtobuf.errorCode == RPCStatusCode.invalidArgument.rawValue)
        // A method name that is not UTF-8.
        let badUTF8 = SoukRPCFraming.decodeAll([0, 0, 0, 9, 0, 0, 0, 5, 0x0a, 0x03, 0x12, 0x01, 0xff])
        #expect(badUTF8.error?.contains("UTF-8") == true)
    }

    @Test("a truncated frame followed by EOF is an error; a clean EOF is not")
    func truncatedThenEOF() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(limits: .default)))
        let bytes = Self.request(payloadSize: 10)
        try channel.writeInbound(ByteBuffer(bytes: Array(bytes.dropLast(3))))
        let none = try channel.readInbound(as: Frame.self)
        #expect(none == nil)
        #expect(throws: FramingError.self) { try channel.finish() }

        let clean = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(limits: .default)))
        try clean.writeInbound(ByteBuffer(bytes: bytes))
        let one = try clean.readInbound(as: Frame.self)
        #expect(one?.kindName == "request")
        let cleanFinish = try clean.finish()
        #expect(cleanFinish.isClean)
    }

    @Test("the preface check tells Souk clients, HTTP clients and garbage apart, whatever the read sizes")
    func prefaceClassification() {
        #expect(Preface.classify(Preface.bytes) == .souk(version: 1))
        #expect(Preface.classify(Array("SOUKRPC".utf8) + [2]) == .souk(version: 2))
        #expect(Preface.classify(Array("SOUK".utf8)) == .needMoreBytes)
        #expect(Preface.classify(Array("GET / HTTP/1.1\r\n".utf8)) == .http)
        #expect(Preface.classify(Array("POS".utf8)) == .needMoreBytes)
        #expect(Preface.classify(Array("PRI * HTTP/2.0".utf8)) == .http)
        #expect(Preface.classify(Array("OPTIONS * HTTP/1.1".utf8)) == .http)
        #expect(Preface.classify(Array("hello world".utf8)) == .garbage)
        #expect(Preface.classify([0x16, 0x03, 0x01]) == .garbage)  // a TLS ClientHello
        #expect(Preface.classify(Array("GETX".utf8)) == .garbage)
    }

    @Test("the server's preface handler answers garbage, HTTP and a wrong version as PROTOCOL.md says")
    func prefaceHandler() throws {
        func run(_ bytes: [UInt8], byteAtATime: Bool) throws -> (output: [UInt8], passedOn: [UInt8], active: Bool) {
            let channel = EmbeddedChannel(handler: ServerPrefaceHandler())
            try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
            if byteAtATime {
                for byte in bytes { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
            } else {
                try channel.writeInbound(ByteBuffer(bytes: bytes))
            }
            var output: [UInt8] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) { output += buffer.readBytes(length: buffer.readableBytes)! }
            var passedOn: [UInt8] = []
            while var buffer = try channel.readInbound(as: ByteBuffer.self) { passedOn += buffer.readBytes(length: buffer.readableBytes)! }
            return (output, passedOn, channel.isActive)
        }
        for byteAtATime in [false, true] {
            let good = try run(Preface.bytes + [1, 2, 3], byteAtATime: byteAtATime)
            #expect(good.output == Preface.bytes)
            #expect(good.passedOn == [1, 2, 3])
            #expect(good.active)

            let http = try run(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), byteAtATime: byteAtATime)
            #expect(String(decoding: http.output, as: UTF8.self).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
            #expect(String(decoding: http.output, as: UTF8.self).contains("Souk RPC"))
            #expect(!http.active)

            let garbage = try run(Array("hello there".utf8), byteAtATime: byteAtATime)
            #expect(Array(garbage.output.prefix(8)) == Preface.bytes)
            let goAway = try FramingTests.decodeAll(Array(garbage.output.dropFirst(8)))
            guard case .goAway(let head)? = goAway.first else {
                Issue.record("expected GOAWAY, got \(goAway.map(\.kindName))")
                continue
            }
            #expect(head.code == RPCStatusCode.invalidArgument.rawValue)
            #expect(head.reason == "not a Souk RPC client: bad preface")
            #expect(!garbage.active)

            let version = try run(Array("SOUKRPC".utf8) + [9], byteAtATime: byteAtATime)
            let versionFrames = try FramingTests.decodeAll(Array(version.output.dropFirst(8)))
            guard case .goAway(let versionHead)? = versionFrames.first else {
                Issue.record("expected GOAWAY")
                continue
            }
            #expect(versionHead.code == RPCStatusCode.unimplemented.rawValue)
            #expect(versionHead.reason == "unsupported protocol version 9; this server speaks 1")
        }
    }

    @Test("the fuzz entry point survives random and mutated input")
    func fuzzSmoke() {
        var random = SeededRandom(seed: 42)
        let seedStream = Preface.bytes + Self.sampleStream()
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                bytes = seedStream
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            let limits = FrameLimits(maxFrameLength: Int.random(in: 8...200, using: &random))
            let whole = SoukRPCFraming.decodeAll(bytes, limits: limits, expectPreface: round % 3 == 0)
            if round % 3 != 0 {
                #expect(SoukRPCFraming.decodeByteAtATime(bytes, limits: limits) == whole)
            }
        }
    }
}

/// A small deterministic generator (SplitMix64), so that failures reproduce.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
