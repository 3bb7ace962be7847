import NIOCore
import SoukRPCCore

/// The connection preface of PROTOCOL.md section 1.
enum Preface {
    /// `SOUKRPC`.
    static let magic: [UInt8] = [0x53, 0x4F, 0x55, 0x4B, 0x52, 0x50, 0x43]
    /// The only version this implementation speaks.
    static let version: UInt8 = 1
    static let bytes: [UInt8] = magic + [version]
    static let length = 8

    /// How a request starts when the peer speaks HTTP instead (PROTOCOL.md section 1).
    static let httpMethods: [[UInt8]] = ["GET ", "POST ", "PUT ", "HEAD ", "PATCH ", "DELETE ", "OPTIONS ", "PRI * "]
        .map { Array($0.utf8) }

    enum Verdict: Equatable {
        /// Too few bytes to tell yet.
        case needMoreBytes
        /// The magic with this version byte; the preface is the first 8 bytes.
        case souk(version: UInt8)
        case http
        case garbage
    }

    /// Classifies the first bytes a client sent. Pure, so that the fuzz target and
    /// the tests can drive it directly.
    static func classify(_ bytes: some Collection<UInt8>) -> Verdict {
        let prefix = Array(bytes.prefix(length))
        let soukCount = min(prefix.count, magic.count)
        if prefix.prefix(soukCount).elementsEqual(magic.prefix(soukCount)) {
            return prefix.count > magic.count ? .souk(version: prefix[magic.count]) : .needMoreBytes
        }
        var undecided = false
        for method in httpMethods {
            let count = min(prefix.count, method.count)
            if prefix.prefix(count).elementsEqual(method.prefix(count)) {
                if prefix.count >= method.count { return .http }
                undecided = true
            }
        }
        return undecided ? .needMoreBytes : .garbage
    }
}

/// The limits a receiver enforces on frames (PROTOCOL.md section 2).
public struct FrameLimits: Sendable, Hashable {
    /// The largest `frame_length` accepted; default 4 MiB.
    public var maxFrameLength: Int
    /// The largest `header_length` accepted; default 64 KiB.
    public var maxHeaderLength: Int

    public init(maxFrameLength: Int = 4 * 1024 * 1024, maxHeaderLength: Int = 64 * 1024) {
        self.maxFrameLength = max(8, maxFrameLength)
        self.maxHeaderLength = max(0, min(maxHeaderLength, self.maxFrameLength - 4))
    }

    public static let `default` = FrameLimits()
}

/// The header of a request frame, as received.
struct RequestHead {
    var callID: UInt64 = 0
    /// The method name's bytes, a slice of the received frame (no copy, no String).
    var method: ByteBuffer = ByteBuffer()
    var timeoutMs: UInt64 = 0
    var metadata = Metadata()

    var methodName: String { String(decoding: method.readableBytesView, as: UTF8.self) }
}

/// The header of a response frame, as received.
struct ResponseHead {
    var callID: UInt64 = 0
    var code: Int32 = 0
    var message: String = ""
    var details: [UInt8] = []
    var metadata = Metadata()
}

/// A GOAWAY frame's header.
struct GoAwayHead: Equatable {
    var lastCallID: UInt64 = 0
    var code: Int32 = 0
    var reason: String = ""
}

/// One frame off the wire.
enum Frame {
    case request(RequestHead, payload: ByteBuffer)
    case response(ResponseHead, payload: ByteBuffer)
    case cancel(callID: UInt64)
    case ping(UInt64)
    case pong(UInt64)
    case goAway(GoAwayHead)
    /// A request frame over the frame limit: its header was read, its payload is being
    /// skipped as it streams in (PROTOCOL.md section 2).
    case oversizedRequest(RequestHead, frameLength: Int)
    /// A response frame over the receiver's frame limit, read the same way.
    case oversizedResponse(ResponseHead, frameLength: Int)
    /// A header with no kind set, or a kind this version does not know: ignored.
    case empty

    /// The kind's name in `frame.proto`, for logs and the fuzz entry point.
    var kindName: String {
        switch self {
        case .request: "request"
        case .response: "response"
        case .cancel: "cancel"
        case .ping: "ping"
        case .pong: "pong"
        case .goAway: "go_away"
        case .oversizedRequest: "oversized request"
        case .oversizedResponse: "oversized response"
        case .empty: "empty"
        }
    }
}

/// A violation of PROTOCOL.md that ends the connection with a GOAWAY of this code and reason.
struct FramingError: Error, Equatable, CustomStringConvertible {
    var code: RPCStatusCode
    var reason: String

    init(_ code: RPCStatusCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    var description: String { "\(code.name): \(reason)" }
}

// MARK: - Reading headers

enum FrameHeaderCodec {
    /// Decodes the FrameHeader at `headerRange` of `frame` (offsets from its reader
    /// index); `payload` is attached to request and response frames.
    static func decode(_ frame: ByteBuffer, headerRange: Range<Int>, payload: ByteBuffer) throws(FramingError) -> Frame {
        do {
            return try frame.withUnsafeReadableBytes { bytes throws(ProtoWireError) -> Frame in
                try decode(bytes, headerRange: headerRange, frame: frame, payload: payload)
            }
        } catch {
            throw FramingError(.invalidArgument, "the frame header is not a valid souk.rpc.v1.FrameHeader: \(error.reason)")
        }
    }

    private enum Kind {
        case none, request(RequestHead), response(ResponseHead), cancel(UInt64), ping(UInt64), pong(UInt64), goAway(GoAwayHead)
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, headerRange: Range<Int>, frame: ByteBuffer,
                               payload: ByteBuffer) throws(ProtoWireError) -> Frame {
        var reader = ProtoReader(bytes, range: headerRange)
        var kind = Kind.none
        while let (field, wireType) = try reader.readTag() {
            switch field {
            case 1...6:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.FrameHeader.kind")
                let range = try reader.readLengthDelimited()
                var inner = ProtoReader(bytes, range: range)
                // A repeated occurrence of the same member merges into it, a different
                // member replaces it: protobuf's rules for a oneof of messages.
                switch field {
                case 1:
                    var head = RequestHead()
                    if case .request(let existing) = kind { head = existing }
                    try readRequest(&inner, into: &head, frame: frame)
                    kind = .request(head)
                case 2:
                    var head = ResponseHead()
                    if case .response(let existing) = kind { head = existing }
                    try readResponse(&inner, into: &head)
                    kind = .response(head)
                case 3:
                    var id: UInt64 = 0
                    if case .cancel(let existing) = kind { id = existing }
                    try readSingleVarint(&inner, into: &id, field: "souk.rpc.v1.Cancel.call_id")
                    kind = .cancel(id)
                case 4:
                    var value: UInt64 = 0
                    if case .ping(let existing) = kind { value = existing }
                    try readSingleVarint(&inner, into: &value, field: "souk.rpc.v1.Ping.payload")
                    kind = .ping(value)
                case 5:
                    var value: UInt64 = 0
                    if case .pong(let existing) = kind { value = existing }
                    try readSingleVarint(&inner, into: &value, field: "souk.rpc.v1.Pong.payload")
                    kind = .pong(value)
                default:
                    var head = GoAwayHead()
                    if case .goAway(let existing) = kind { head = existing }
                    try readGoAway(&inner, into: &head)
                    kind = .goAway(head)
                }
            default:
                try reader.skip(wireType: wireType)
            }
        }
        switch kind {
        case .none: return .empty
        case .request(let head): return .request(head, payload: payload)
        case .response(let head): return .response(head, payload: payload)
        case .cancel(let id): return .cancel(callID: id)
        case .ping(let value): return .ping(value)
        case .pong(let value): return .pong(value)
        case .goAway(let head): return .goAway(head)
        }
    }

    private static func readSingleVarint(_ reader: inout ProtoReader, into value: inout UInt64,
                                         field: StaticString) throws(ProtoWireError) {
        while let (number, wireType) = try reader.readTag() {
            if number == 1 {
                try reader.expect(wireType, 0, field: field)
                value = try reader.readVarint()
            } else {
                try reader.skip(wireType: wireType)
            }
        }
    }

    private static func readRequest(_ reader: inout ProtoReader, into head: inout RequestHead,
                                    frame: ByteBuffer) throws(ProtoWireError) {
        while let (number, wireType) = try reader.readTag() {
            switch number {
            case 1:
                try reader.expect(wireType, 0, field: "souk.rpc.v1.RequestHeader.call_id")
                head.callID = try reader.readVarint()
            case 2:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.RequestHeader.method")
                let range = try reader.readLengthDelimited()
                try reader.validateString(range, field: "souk.rpc.v1.RequestHeader.method")
                head.method = frame.getSlice(at: frame.readerIndex + range.lowerBound, length: range.count)!
            case 3:
                try reader.expect(wireType, 0, field: "souk.rpc.v1.RequestHeader.timeout_ms")
                head.timeoutMs = try reader.readVarint()
            case 4:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.RequestHeader.metadata")
                var inner = ProtoReader(reader.bytes, range: try reader.readLengthDelimited())
                try readMetadataEntry(&inner, into: &head.metadata, verbatim: true)
            default:
                try reader.skip(wireType: wireType)
            }
        }
    }

    private static func readResponse(_ reader: inout ProtoReader, into head: inout ResponseHead) throws(ProtoWireError) {
        while let (number, wireType) = try reader.readTag() {
            switch number {
            case 1:
                try reader.expect(wireType, 0, field: "souk.rpc.v1.ResponseHeader.call_id")
                head.callID = try reader.readVarint()
            case 2:
                try reader.expect(wireType, 0, field: "souk.rpc.v1.ResponseHeader.code")
                head.code = Int32(truncatingIfNeeded: try reader.readVarint())
            case 3:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.ResponseHeader.status_message")
                head.message = try reader.string(try reader.readLengthDelimited(), field: "souk.rpc.v1.ResponseHeader.status_message")
            case 4:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.ResponseHeader.details")
                head.details = reader.bytesArray(try reader.readLengthDelimited())
            case 5:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.ResponseHeader.trailing_metadata")
                var inner = ProtoReader(reader.bytes, range: try reader.readLengthDelimited())
                try readMetadataEntry(&inner, into: &head.metadata, verbatim: false)
            default:
                try reader.skip(wireType: wireType)
            }
        }
    }

    private static func readGoAway(_ reader: inout ProtoReader, into head: inout GoAwayHead) throws(ProtoWireError) {
        while let (number, wireType) = try reader.readTag() {
            switch number {
            case 1:
                try reader.expect(wireType, 0, field: "souk.rpc.v1.GoAway.last_call_id")
                head.lastCallID = try reader.readVarint()
            case 2:
                try reader.expect(wireType, 0, field: "souk.rpc.v1.GoAway.code")
                head.code = Int32(truncatingIfNeeded: try reader.readVarint())
            case 3:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.GoAway.reason")
                head.reason = try reader.string(try reader.readLengthDelimited(), field: "souk.rpc.v1.GoAway.reason")
            default:
                try reader.skip(wireType: wireType)
            }
        }
    }

    /// `verbatim`: keep the key as sent (request metadata, which the server checks and
    /// refuses when it breaks the rules); else lower-case it (trailing metadata, which a
    /// client only looks up).
    private static func readMetadataEntry(_ reader: inout ProtoReader, into metadata: inout Metadata,
                                          verbatim: Bool) throws(ProtoWireError) {
        var key = ""
        var value: Metadata.Value?
        while let (number, wireType) = try reader.readTag() {
            switch number {
            // Request metadata (verbatim) is read whatever its bytes: U+0000 or invalid
            // UTF-8 breaks the metadata rules, which answer INVALID_ARGUMENT for the one
            // call, not the framing rules, which would end the connection.
            case 1:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.MetadataEntry.key")
                let range = try reader.readLengthDelimited()
                key = verbatim ? reader.lossyString(range) : try reader.string(range, field: "souk.rpc.v1.MetadataEntry.key")
            case 2:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.MetadataEntry.text")
                let range = try reader.readLengthDelimited()
                value = .text(verbatim ? reader.lossyString(range) : try reader.string(range, field: "souk.rpc.v1.MetadataEntry.text"))
            case 3:
                try reader.expect(wireType, 2, field: "souk.rpc.v1.MetadataEntry.binary")
                value = .binary(reader.bytesArray(try reader.readLengthDelimited()))
            default:
                try reader.skip(wireType: wireType)
            }
        }
        // Neither text nor binary set: the empty value of the kind the key calls for.
        let entry = value ?? (Metadata.isBinaryKey(key) ? .binary([]) : .text(""))
        if verbatim {
            metadata.appendReceived(key, entry)
        } else {
            metadata.append(key, entry)
        }
    }
}

// MARK: - Writing frames

/// Writes whole frames (length prefixes, header, payload) into a ByteBuffer.
enum FrameWriter {
    private static func metadataEntrySize(_ key: String, _ value: Metadata.Value) -> Int {
        var size = ProtoWriter.lengthDelimitedSize(key.utf8.count)
        switch value {
        case .text(let text): size += ProtoWriter.lengthDelimitedSize(text.utf8.count)
        case .binary(let bytes): size += ProtoWriter.lengthDelimitedSize(bytes.count)
        }
        return size
    }

    private static func metadataSize(_ metadata: Metadata, into sizes: inout Int) {
        for (key, value) in metadata.entries {
            sizes += ProtoWriter.lengthDelimitedSize(metadataEntrySize(key, value))
        }
    }

    private static func writeMetadata(_ tag: UInt8, _ metadata: Metadata, to buffer: inout ByteBuffer) {
        for (key, value) in metadata.entries {
            buffer.writeInteger(tag)
            ProtoWriter.writeVarint(UInt64(metadataEntrySize(key, value)), to: &buffer)
            buffer.writeInteger(UInt8(0x0A))
            ProtoWriter.writeVarint(UInt64(key.utf8.count), to: &buffer)
            buffer.writeString(key)
            // A oneof member is written even when it holds its default.
            switch value {
            case .text(let text):
                buffer.writeInteger(UInt8(0x12))
                ProtoWriter.writeVarint(UInt64(text.utf8.count), to: &buffer)
                buffer.writeString(text)
            case .binary(let bytes):
                buffer.writeInteger(UInt8(0x1A))
                ProtoWriter.writeVarint(UInt64(bytes.count), to: &buffer)
                buffer.writeBytes(bytes)
            }
        }
    }

    /// The length prefixes and the FrameHeader's tag and length for a header whose
    /// kind message is `innerSize` bytes.
    @inline(__always)
    private static func writePrefix(kindTag: UInt8, innerSize: Int, payloadSize: Int, to buffer: inout ByteBuffer) {
        let headerSize = ProtoWriter.lengthDelimitedSize(innerSize)
        buffer.writeInteger(UInt32(truncatingIfNeeded: 4 + headerSize + payloadSize))
        buffer.writeInteger(UInt32(truncatingIfNeeded: headerSize))
        buffer.writeInteger(kindTag)
        ProtoWriter.writeVarint(UInt64(innerSize), to: &buffer)
    }

    /// The size of a request frame's header up to its payload.
    static func requestHeaderSize(callID: UInt64, methodUTF8Count: Int, timeoutMs: UInt64, metadata: Metadata) -> Int {
        var inner = ProtoWriter.varintFieldSize(callID) + (methodUTF8Count == 0 ? 0 : ProtoWriter.lengthDelimitedSize(methodUTF8Count))
            + ProtoWriter.varintFieldSize(timeoutMs)
        metadataSize(metadata, into: &inner)
        return inner
    }

    /// A request frame whose payload follows in `payload`, or, when `payload` is nil,
    /// is written by the caller next (`payloadSize` bytes).
    static func writeRequest(callID: UInt64, method: String, methodUTF8Count: Int, timeoutMs: UInt64, metadata: Metadata,
                             payloadSize: Int, to buffer: inout ByteBuffer) {
        let inner = requestHeaderSize(callID: callID, methodUTF8Count: methodUTF8Count, timeoutMs: timeoutMs, metadata: metadata)
        writePrefix(kindTag: 0x0A, innerSize: inner, payloadSize: payloadSize, to: &buffer)
        ProtoWriter.writeVarintField(0x08, callID, to: &buffer)
        ProtoWriter.writeStringField(0x12, method, utf8Count: methodUTF8Count, to: &buffer)
        ProtoWriter.writeVarintField(0x18, timeoutMs, to: &buffer)
        writeMetadata(0x22, metadata, to: &buffer)
    }

    /// The `frame_length` of a successful response with `metadata`, carrying
    /// `payloadSize` bytes: what the frame limit is compared with.
    static func responseFrameLength(callID: UInt64, metadata: Metadata, payloadSize: Int) -> Int {
        var inner = ProtoWriter.varintFieldSize(callID)
        metadataSize(metadata, into: &inner)
        return 4 + ProtoWriter.lengthDelimitedSize(inner) + payloadSize
    }

    /// A response frame's prefixes and header; the caller writes `payloadSize` payload bytes next.
    static func writeResponseHeader(callID: UInt64, code: Int32, message: String, details: [UInt8], metadata: Metadata,
                                    payloadSize: Int, to buffer: inout ByteBuffer) {
        let messageCount = message.utf8.count
        var inner = ProtoWriter.varintFieldSize(callID) + ProtoWriter.varintFieldSize(UInt64(bitPattern: Int64(code)))
        if messageCount > 0 { inner += ProtoWriter.lengthDelimitedSize(messageCount) }
        if !details.isEmpty { inner += ProtoWriter.lengthDelimitedSize(details.count) }
        metadataSize(metadata, into: &inner)
        writePrefix(kindTag: 0x12, innerSize: inner, payloadSize: payloadSize, to: &buffer)
        ProtoWriter.writeVarintField(0x08, callID, to: &buffer)
        ProtoWriter.writeVarintField(0x10, UInt64(bitPattern: Int64(code)), to: &buffer)
        ProtoWriter.writeStringField(0x1A, message, utf8Count: messageCount, to: &buffer)
        ProtoWriter.writeBytesField(0x22, details, to: &buffer)
        writeMetadata(0x2A, metadata, to: &buffer)
    }

    /// A failed call's response: the status, no payload.
    static func writeError(callID: UInt64, _ error: RPCError, to buffer: inout ByteBuffer) {
        writeResponseHeader(callID: callID, code: error.code.rawValue, message: error.message, details: error.details,
                            metadata: error.metadata, payloadSize: 0, to: &buffer)
    }

    private static func writeSingleVarint(kindTag: UInt8, _ value: UInt64, to buffer: inout ByteBuffer) {
        writePrefix(kindTag: kindTag, innerSize: ProtoWriter.varintFieldSize(value), payloadSize: 0, to: &buffer)
        ProtoWriter.writeVarintField(0x08, value, to: &buffer)
    }

    static func writeCancel(callID: UInt64, to buffer: inout ByteBuffer) { writeSingleVarint(kindTag: 0x1A, callID, to: &buffer) }
    static func writePing(_ payload: UInt64, to buffer: inout ByteBuffer) { writeSingleVarint(kindTag: 0x22, payload, to: &buffer) }
    static func writePong(_ payload: UInt64, to buffer: inout ByteBuffer) { writeSingleVarint(kindTag: 0x2A, payload, to: &buffer) }

    static func writeGoAway(lastCallID: UInt64, code: RPCStatusCode, reason: String, to buffer: inout ByteBuffer) {
        let reasonCount = reason.utf8.count
        var inner = ProtoWriter.varintFieldSize(lastCallID) + ProtoWriter.varintFieldSize(UInt64(code.rawValue))
        if reasonCount > 0 { inner += ProtoWriter.lengthDelimitedSize(reasonCount) }
        writePrefix(kindTag: 0x32, innerSize: inner, payloadSize: 0, to: &buffer)
        ProtoWriter.writeVarintField(0x08, lastCallID, to: &buffer)
        ProtoWriter.writeVarintField(0x10, UInt64(code.rawValue), to: &buffer)
        ProtoWriter.writeStringField(0x1A, reason, utf8Count: reasonCount, to: &buffer)
    }
}
