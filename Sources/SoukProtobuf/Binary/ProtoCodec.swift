import CProtobufC

extension ProtoMessage {
    /// The protobuf binary encoding of the message.
    public func serializedBytes() throws -> [UInt8] {
        try withPacker { size, pack in
            [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                count = pack(UnsafeMutableRawPointer(buffer.baseAddress!))
            }
        }
    }

    /// Encodes into memory the caller provides: builds the C struct once, tells
    /// `body` the packed size, and `pack` writes exactly that many bytes to the
    /// pointer it is given, returning the count.
    @inlinable
    public func withPacker<R>(_ body: (_ size: Int, _ pack: (UnsafeMutableRawPointer) -> Int) throws -> R) throws -> R {
        try ProtoArena.with { arena in
            var c = try makeCMessage(in: &arena)
            return try withUnsafePointer(to: &c) { pointer in
                let message = UnsafeRawPointer(pointer).assumingMemoryBound(to: ProtobufCMessage.self)
                let size = protobuf_c_message_get_packed_size(message)
                return try body(size) { out in
                    protobuf_c_message_pack(message, out.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
    }

    /// Decodes the protobuf binary encoding.
    public init(serializedBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Self(serializedBytes: $0) }
    }

    /// Decodes the protobuf binary encoding from memory the caller owns.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try ProtoArena.with { arena in
            try withUnsafeMutablePointer(to: &arena) { arenaPointer in
                var allocator = ProtobufCAllocator(
                    alloc: { data, size in
                        data!.assumingMemoryBound(to: ProtoArena.self).pointee.allocateRecordingSize(size)
                    },
                    free: { _, _ in },  // the arena releases everything at once
                    allocator_data: UnsafeMutableRawPointer(arenaPointer))
                var placeholder: UInt8 = 0
                let unpacked: UnsafeMutablePointer<ProtobufCMessage>? = withUnsafePointer(to: &placeholder) { empty in
                    let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? empty
                    return protobuf_c_message_unpack(Self.cDescriptor, &allocator, bytes.count, data)
                }
                guard let unpacked else {
                    throw ProtoBinaryError(.malformed,
                        "the \(bytes.count)-byte input is not a valid \(Self.protoMessageName): it is truncated, has a field of the wrong wire type, or a length past its end")
                }
                return try Self(cMessage: UnsafeRawPointer(unpacked).assumingMemoryBound(to: CMessage.self), arena: arenaPointer.pointee)
            }
        }
    }

    /// The proto3 JSON form of the message, compact. Throws ``ProtoJSONError`` for a value that has
    /// no JSON form, such as a Timestamp outside years 1 to 9999.
    public func jsonString(options: JSONEncodingOptions = JSONEncodingOptions()) throws -> String {
        String(decoding: try jsonBytes(options: options), as: UTF8.self)
    }

    /// The proto3 JSON form of the message as UTF-8 bytes.
    public func jsonBytes(options: JSONEncodingOptions = JSONEncodingOptions()) throws -> [UInt8] {
        var writer = JSONWriter(options: options)
        encodeJSON(to: &writer)
        if let error = writer.error { throw error }
        return writer.bytes
    }

    /// Decodes the proto3 JSON form; unknown fields and wrong types throw ``ProtoJSONError`` naming the field.
    public init(jsonString: String) throws {
        self = try Self(json: JSONParser.parse(jsonString), at: .root)
    }

    /// Decodes the proto3 JSON form from UTF-8 bytes.
    public init(jsonBytes: some Collection<UInt8>) throws {
        self = try Self(json: JSONParser.parse(jsonBytes), at: .root)
    }
}
