#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CProtobufC

/// The helpers generated `init(cMessage:arena:)` initialisers call to copy C fields out.
extension ProtoArena {
    /// A string protobuf-c unpacked. protobuf-c copies the wire bytes and adds
    /// a NUL, so a string holding U+0000 would silently end early: the length
    /// recorded at allocation time catches it.
    @inlinable
    public func string(_ pointer: UnsafeMutablePointer<CChar>?, field: StaticString) throws -> String {
        guard let pointer else { return "" }
        let length = strlen(pointer)
        // Pointers the arena did not hand out are protobuf-c's static defaults.
        if _owns(pointer) {
            let allocated = UnsafeRawPointer(pointer).load(fromByteOffset: -ProtoArena.sizeHeader, as: Int.self)
            if allocated != length + 1 {
                throw ProtoBinaryError(.stringContainsNUL,
                    "field \(field) contains the character U+0000, which Souk contracts do not accept in a string")
            }
        }
        if length == 0 { return "" }
        // Not String(validating:as:): that generic initialiser is not
        // specialised here and looks up the metadata of UnsafeBufferPointer<UInt8>
        // and Unicode.ParseResult at run time on every call — nearly half of a
        // decode's instructions. This one validates on the stdlib's UTF-8 fast path.
        guard let string = String(validatingCString: pointer) else {
            throw ProtoBinaryError(.invalidUTF8, "field \(field) is not valid UTF-8")
        }
        return string
    }

    @usableFromInline
    func _owns(_ pointer: UnsafeMutablePointer<CChar>) -> Bool {
        owns(UnsafeRawPointer(pointer))
    }

    /// A bytes field.
    @inlinable
    public func bytes(_ value: ProtobufCBinaryData) -> [UInt8] {
        guard value.len > 0, let data = value.data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: value.len))
    }

    /// A sub-message, or nil when it is absent.
    @inlinable
    public func message<M: ProtoMessage>(_ pointer: UnsafeMutablePointer<M.CMessage>?, as _: M.Type = M.self) throws -> M? {
        guard let pointer else { return nil }
        return try M(cMessage: pointer, arena: self)
    }

    /// A repeated scalar field whose Swift and C element types are the same.
    @inlinable
    public func repeated<T: BitwiseCopyable>(_ pointer: UnsafeMutablePointer<T>?, count: Int) -> [T] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    /// A repeated bool field.
    @inlinable
    public func repeatedBools(_ pointer: UnsafeMutablePointer<protobuf_c_boolean>?, count: Int) -> [Bool] {
        guard let pointer, count > 0 else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).map { $0 != 0 }
    }

    /// A repeated enum field.
    @inlinable
    public func repeatedEnums<E: ProtoEnum, C: RawRepresentable>(_ pointer: UnsafeMutablePointer<C>?, count: Int, as _: E.Type = E.self) -> [E]
    where C.RawValue: FixedWidthInteger {
        guard let pointer, count > 0 else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).map { swiftEnum($0) }
    }

    /// A repeated string field.
    @inlinable
    public func repeatedStrings(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, count: Int, field: StaticString) throws -> [String] {
        guard let pointer, count > 0 else { return [] }
        var result: [String] = []
        result.reserveCapacity(count)
        for index in 0..<count { result.append(try string(pointer[index], field: field)) }
        return result
    }

    /// A repeated bytes field.
    @inlinable
    public func repeatedBytes(_ pointer: UnsafeMutablePointer<ProtobufCBinaryData>?, count: Int) -> [[UInt8]] {
        guard let pointer, count > 0 else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).map { bytes($0) }
    }

    /// A repeated message field.
    @inlinable
    public func repeatedMessages<M: ProtoMessage>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<M.CMessage>?>?, count: Int, as _: M.Type = M.self) throws -> [M] {
        guard let pointer, count > 0 else { return [] }
        var result: [M] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let element = pointer[index] else { continue }
            result.append(try M(cMessage: element, arena: self))
        }
        return result
    }

    /// A map field, from protobuf-c's repeated entries; a later duplicate key wins, as in every protobuf runtime.
    @inlinable
    public func map<Entry, K: Hashable, V>(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>?, count: Int,
        _ readEntry: (borrowing ProtoArena, UnsafeMutablePointer<Entry>) throws -> (K, V)
    ) throws -> [K: V] {
        guard let pointer, count > 0 else { return [:] }
        var result: [K: V] = [:]
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let entry = pointer[index] else { continue }
            let (key, value) = try readEntry(self, entry)
            result[key] = value
        }
        return result
    }
}

/// Converts a C enum value protobuf-c unpacked to the Swift proto enum.
@inlinable
public func swiftEnum<E: ProtoEnum, C: RawRepresentable>(_ value: C) -> E where C.RawValue: FixedWidthInteger {
    E(rawValue: Int32(truncatingIfNeeded: value.rawValue))
}

/// The field number of the oneof member a C struct holds (0 = none).
@inlinable
public func oneofCase<C: RawRepresentable>(_ value: C) -> Int32 where C.RawValue: FixedWidthInteger {
    Int32(truncatingIfNeeded: value.rawValue)
}
