#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CProtobufC

/// A bump allocator for the C structs of one encode or decode.
///
/// Encoding builds a message's C struct, its strings, arrays and sub-messages
/// here; decoding hands it to protobuf-c as the allocator. Everything is
/// released at once when the arena ends, so no path — including a decode that
/// fails half-way — can leak, and a small message costs no `malloc` at all: the
/// first block lives on the stack.
public struct ProtoArena: ~Copyable {
    /// Blocks taken from `malloc` once the stack block is full, each starting
    /// with a link to the previous one and its own size.
    @usableFromInline var lastHeapBlock: UnsafeMutableRawPointer?
    @usableFromInline var cursor: UnsafeMutableRawPointer
    @usableFromInline var end: UnsafeMutableRawPointer
    @usableFromInline let stackBlock: UnsafeMutableRawBufferPointer

    private static let blockHeader = 16
    /// Decode allocations carry their size just before them, so that a string
    /// protobuf-c unpacked can be checked for an embedded NUL.
    @usableFromInline static let sizeHeader = 16

    @usableFromInline
    init(stackBlock: UnsafeMutableRawBufferPointer) {
        self.stackBlock = stackBlock
        self.cursor = stackBlock.baseAddress!
        self.end = stackBlock.baseAddress! + stackBlock.count
    }

    deinit {
        var block = lastHeapBlock
        while let current = block {
            block = current.load(as: UnsafeMutableRawPointer?.self)
            free(current)
        }
    }

    /// Runs `body` with an arena whose first `stackBytes` live on the stack.
    /// Above 1024 bytes withUnsafeTemporaryAllocation takes the heap on Linux
    /// (swift_stdlib_isStackAllocationSafe says no), so a bigger stack block
    /// would only add a malloc.
    @inlinable
    public static func with<R>(stackBytes: Int = 1024, _ body: (inout ProtoArena) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: stackBytes, alignment: 16) { buffer in
            var arena = ProtoArena(stackBlock: buffer)
            return try body(&arena)
        }
    }

    /// Uninitialised memory for `byteCount` bytes, aligned to 16.
    @inlinable
    public mutating func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = (max(byteCount, 1) + 15) & ~15
        if end - cursor < size { grow(atLeast: size) }
        let pointer = cursor
        cursor += size
        return pointer
    }

    @usableFromInline
    mutating func grow(atLeast size: Int) {
        let previousSize = lastHeapBlock.map { $0.load(fromByteOffset: 8, as: Int.self) } ?? stackBlock.count
        let blockSize = max(previousSize * 2, size + Self.blockHeader, 16384)
        guard let block = malloc(blockSize) else { fatalError("ProtoArena: out of memory allocating \(blockSize) bytes") }
        block.storeBytes(of: lastHeapBlock, as: UnsafeMutableRawPointer?.self)
        block.storeBytes(of: blockSize, toByteOffset: 8, as: Int.self)
        lastHeapBlock = block
        cursor = block + Self.blockHeader
        end = block + blockSize
    }

    /// Memory for protobuf-c's unpacker: the requested size is recorded before the block.
    mutating func allocateRecordingSize(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let pointer = allocate(byteCount: byteCount + Self.sizeHeader) + Self.sizeHeader
        (pointer - Self.sizeHeader).storeBytes(of: byteCount, as: Int.self)
        return pointer
    }

    /// Whether `pointer` was handed out by this arena (and so has a size header when it came from the unpacker).
    func owns(_ pointer: UnsafeRawPointer) -> Bool {
        if let base = stackBlock.baseAddress, pointer >= UnsafeRawPointer(base),
           pointer < UnsafeRawPointer(base + stackBlock.count) {
            return true
        }
        var block = lastHeapBlock
        while let current = block {
            let size = current.load(fromByteOffset: 8, as: Int.self)
            if pointer >= UnsafeRawPointer(current) && pointer < UnsafeRawPointer(current + size) { return true }
            block = current.load(as: UnsafeMutableRawPointer?.self)
        }
        return false
    }
}
