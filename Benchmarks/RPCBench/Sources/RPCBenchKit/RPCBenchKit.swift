#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import NIOCore
import NIOPosix

/// What the bare-NIO and C echoes speak: a 4-byte big-endian length, then that many bytes.
public struct LengthPrefixedFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try decode(buffer: &buffer)
    }
}

/// grpc-swift-2 codecs for raw bytes, so that no protobuf library is involved.
public struct BytesSerializer: MessageSerializer {
    public init() {}
    public func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

public struct BytesDeserializer: MessageDeserializer {
    public init() {}
    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

public enum GRPCEcho {
    public static let method = GRPCCore.MethodDescriptor(fullyQualifiedService: "bench.Echo", method: "Echo")
}

/// Parses `--name value` options.
public struct Options {
    private var values: [String: String] = [:]

    public init(_ arguments: [String]) {
        var index = 1
        while index < arguments.count {
            let key = arguments[index]
            if key.hasPrefix("--"), index + 1 < arguments.count {
                values[String(key.dropFirst(2))] = arguments[index + 1]
                index += 2
            } else {
                index += 1
            }
        }
    }

    public func string(_ name: String, _ fallback: String) -> String { values[name] ?? fallback }
    public func int(_ name: String, _ fallback: Int) -> Int { values[name].flatMap(Int.init) ?? fallback }
    public func double(_ name: String, _ fallback: Double) -> Double { values[name].flatMap(Double.init) ?? fallback }

    /// `--executor nio` makes NIO's event loops Swift's global executor for this process
    /// (NIO's opt-in "take over"), so that tasks and I/O share threads.
    public func installExecutor() {
        if string("executor", "default") == "nio" {
            precondition(NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor())
        }
    }
}

/// Latencies in nanoseconds, summarised as the driver's table wants them.
public struct LatencySummary {
    public var calls: Int
    public var seconds: Double
    public var p50Microseconds: Double
    public var p99Microseconds: Double

    public init(latencies: [Int64], seconds: Double) {
        var sorted = latencies
        sorted.sort()
        calls = sorted.count
        self.seconds = seconds
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
        }
        p50Microseconds = percentile(0.50)
        p99Microseconds = percentile(0.99)
    }

    /// One line the driver parses: `RESULT calls_per_s p50_us p99_us calls`.
    public var line: String {
        let rate = seconds > 0 ? Double(calls) / seconds : 0
        return "RESULT \(Int(rate)) \(String(format1: p50Microseconds)) \(String(format1: p99Microseconds)) \(calls)"
    }
}

extension String {
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}

/// Monotonic nanoseconds.
@inline(__always)
public func nowNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// Prints a line and flushes, for the driver reading our stdout through a pipe.
public func say(_ line: String) {
    print(line)
    fflush(nil)
}
