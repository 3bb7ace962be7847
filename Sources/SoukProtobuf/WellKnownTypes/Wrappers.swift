// The JSON form of the wrappers (google/protobuf/wrappers.proto): the bare wrapped value, as the
// wrapped scalar type writes it (an Int64Value is a quoted number, a BytesValue base64).
// A singular wrapper field is generated as a Swift optional of the scalar, so these are used
// directly only for wrappers in lists, maps and oneofs, and at the top level.

extension Google_Protobuf_DoubleValue {
    /// A wrapper holding `value`.
    public init(value: Double) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeDouble(at: path))
    }
}

extension Google_Protobuf_FloatValue {
    /// A wrapper holding `value`.
    public init(value: Float) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeFloat(at: path))
    }
}

extension Google_Protobuf_Int64Value {
    /// A wrapper holding `value`.
    public init(value: Int64) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeInt64(at: path))
    }
}

extension Google_Protobuf_UInt64Value {
    /// A wrapper holding `value`.
    public init(value: UInt64) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeUInt64(at: path))
    }
}

extension Google_Protobuf_Int32Value {
    /// A wrapper holding `value`.
    public init(value: Int32) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeInt32(at: path))
    }
}

extension Google_Protobuf_UInt32Value {
    /// A wrapper holding `value`.
    public init(value: UInt32) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeUInt32(at: path))
    }
}

extension Google_Protobuf_BoolValue {
    /// A wrapper holding `value`.
    public init(value: Bool) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeBool(at: path))
    }
}

extension Google_Protobuf_StringValue {
    /// A wrapper holding `value`.
    public init(value: String) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeString(at: path))
    }
}

extension Google_Protobuf_BytesValue {
    /// A wrapper holding `value`.
    public init(value: [UInt8]) {
        self.init()
        self.value = value
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        writer.value(bytes: self.value)
    }

    public init(json: JSONValue, at path: JSONPath) throws {
        self.init(value: try json.decodeBytes(at: path))
    }
}
