#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CProtobufC

/// A NUL-terminated empty string that outlives every arena: protobuf-c reads
/// string pointers of repeated fields and oneof members without a NULL check.
nonisolated(unsafe) let emptyCString: UnsafeMutablePointer<CChar> = {
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return pointer
}()

/// The helpers generated `makeCMessage` methods call to build C fields.
extension ProtoArena {
    /// A NUL-terminated copy of `value`; throws when it holds U+0000, which C cannot carry.
    @inlinable
    public mutating func string(_ value: String, field: StaticString) throws -> UnsafeMutablePointer<CChar>? {
        var value = value
        return try value.withUTF8 { utf8 in
            if utf8.isEmpty { return _emptyCString() }
            if memchr(utf8.baseAddress!, 0, utf8.count) != nil {
                throw ProtoBinaryError(.stringContainsNUL,
                    "field \(field) contains the character U+0000, which Souk contracts cannot carry in a string; use a bytes field for binary data")
            }
            let copy = allocate(byteCount: utf8.count + 1).bindMemory(to: CChar.self, capacity: utf8.count + 1)
            UnsafeMutableRawPointer(copy).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
            copy[utf8.count] = 0
            return copy
        }
    }

    @usableFromInline
    func _emptyCString() -> UnsafeMutablePointer<CChar> { emptyCString }

    /// `bytes` as protobuf-c's length + pointer pair.
    @inlinable
    public mutating func bytes(_ value: [UInt8]) -> ProtobufCBinaryData {
        if value.isEmpty { return ProtobufCBinaryData(len: 0, data: nil) }
        let copy = allocate(byteCount: value.count)
        value.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return ProtobufCBinaryData(len: value.count, data: copy.assumingMemoryBound(to: UInt8.self))
    }

    /// A sub-message's C struct, or NULL when it is absent.
    @inlinable
    public mutating func message<M: ProtoMessage>(ifPresent value: M?) throws -> UnsafeMutablePointer<M.CMessage>? {
        guard let value else { return nil }
        let pointer: UnsafeMutablePointer<M.CMessage> = try message(value)
        return pointer
    }

    /// A sub-message's C struct (a oneof member or a repeated element).
    @inlinable
    public mutating func message<M: ProtoMessage>(_ value: M) throws -> UnsafeMutablePointer<M.CMessage> {
        let c = try value.makeCMessage(in: &self)
        let pointer = allocate(byteCount: MemoryLayout<M.CMessage>.stride).bindMemory(to: M.CMessage.self, capacity: 1)
        pointer.initialize(to: c)
        return pointer
    }

    /// A repeated scalar field whose Swift and C element types are the same.
    @inlinable
    public mutating func repeated<T: BitwiseCopyable>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        if values.isEmpty { return nil }
        let pointer = allocate(byteCount: MemoryLayout<T>.stride * values.count).bindMemory(to: T.self, capacity: values.count)
        values.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: $0.count) }
        return pointer
    }

    /// A repeated bool field: protobuf-c stores each as an `int`.
    @inlinable
    public mutating func repeatedBools(_ values: [Bool]) -> UnsafeMutablePointer<protobuf_c_boolean>? {
        if values.isEmpty { return nil }
        let pointer = allocate(byteCount: MemoryLayout<protobuf_c_boolean>.stride * values.count)
            .bindMemory(to: protobuf_c_boolean.self, capacity: values.count)
        for (index, value) in values.enumerated() { pointer[index] = value ? 1 : 0 }
        return pointer
    }

    /// A repeated enum field, as the C enum type.
    @inlinable
    public mutating func repeatedEnums<E: ProtoEnum, C: RawRepresentable>(_ values: [E], as _: C.Type = C.self) -> UnsafeMutablePointer<C>?
    where C.RawValue: FixedWidthInteger {
        if values.isEmpty { return nil }
        let pointer = allocate(byteCount: MemoryLayout<C>.stride * values.count).bindMemory(to: C.self, capacity: values.count)
        for (index, value) in values.enumerated() { pointer.advanced(by: index).initialize(to: cEnum(value)) }
        return pointer
    }

    /// A repeated string field.
    @inlinable
    public mutating func repeatedStrings(_ values: [String], field: StaticString) throws -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        if values.isEmpty { return nil }
        let pointer = allocate(byteCount: MemoryLayout<UnsafeMutablePointer<CChar>?>.stride * values.count)
            .bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: values.count)
        for (index, value) in values.enumerated() { pointer.advanced(by: index).initialize(to: try string(value, field: field)) }
        return pointer
    }

    /// A repeated bytes field.
    @inlinable
    public mutating func repeatedBytes(_ values: [[UInt8]]) -> UnsafeMutablePointer<ProtobufCBinaryData>? {
        if values.isEmpty { return nil }
        let pointer = allocate(byteCount: MemoryLayout<ProtobufCBinaryData>.stride * values.count)
            .bindMemory(to: ProtobufCBinaryData.self, capacity: values.count)
        for (index, value) in values.enumerated() { pointer.advanced(by: index).initialize(to: bytes(value)) }
        return pointer
    }

    /// A repeated message field: protobuf-c wants an array of pointers.
    @inlinable
    public mutating func repeatedMessages<M: ProtoMessage>(_ values: [M]) throws -> UnsafeMutablePointer<UnsafeMutablePointer<M.CMessage>?>? {
        if values.isEmpty { return nil }
        let pointer = allocate(byteCount: MemoryLayout<UnsafeMutablePointer<M.CMessage>?>.stride * values.count)
            .bindMemory(to: UnsafeMutablePointer<M.CMessage>?.self, capacity: values.count)
        for (index, value) in values.enumerated() { pointer.advanced(by: index).initialize(to: try message(value)) }
        return pointer
    }

    /// A map field: protobuf-c sees it as a repeated entry message; `makeEntry` builds one entry's C struct.
    /// Entries go in key order, so that a message has one encoding, whatever order its dictionary
    /// iterates in (a fingerprint of it, a byte-for-byte comparison, a cache key depend on that).
    @inlinable
    public mutating func mapEntries<K: Comparable, V, Entry>(
        _ map: [K: V],
        _ makeEntry: (inout ProtoArena, K, V) throws -> Entry
    ) throws -> UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>? {
        try mapEntries(map.sorted { $0.key < $1.key }, makeEntry)
    }

    /// A map field with bool keys: false, then true.
    @inlinable
    public mutating func mapEntries<V, Entry>(
        _ map: [Bool: V],
        _ makeEntry: (inout ProtoArena, Bool, V) throws -> Entry
    ) throws -> UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>? {
        try mapEntries(map.sorted { !$0.key && $1.key }, makeEntry)
    }

    @inlinable
    mutating func mapEntries<K, V, Entry>(
        _ map: [(key: K, value: V)],
        _ makeEntry: (inout ProtoArena, K, V) throws -> Entry
    ) throws -> UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>? {
        if map.isEmpty { return nil }
        let pointers = allocate(byteCount: MemoryLayout<UnsafeMutablePointer<Entry>?>.stride * map.count)
            .bindMemory(to: UnsafeMutablePointer<Entry>?.self, capacity: map.count)
        var index = 0
        for (key, value) in map {
            let entry = try makeEntry(&self, key, value)
            let slot = allocate(byteCount: MemoryLayout<Entry>.stride).bindMemory(to: Entry.self, capacity: 1)
            slot.initialize(to: entry)
            pointers.advanced(by: index).initialize(to: slot)
            index += 1
        }
        return pointers
    }
}

/// Converts a Swift proto enum to the C enum protobuf-c generated for it.
@inlinable
public func cEnum<E: ProtoEnum, C: RawRepresentable>(_ value: E) -> C where C.RawValue: FixedWidthInteger {
    C(rawValue: C.RawValue(truncatingIfNeeded: value.rawValue))!
}

/// Sets a C oneof-case field to the member with field number `number` (0 = none).
@inlinable
public func cOneofCase<C: RawRepresentable>(_ number: Int32) -> C where C.RawValue: FixedWidthInteger {
    C(rawValue: C.RawValue(truncatingIfNeeded: number))!
}
