/// Call metadata: ordered key/value pairs. Keys are lower-case ASCII; keys
/// ending in `-bin` carry binary values, all others text.
public struct Metadata: Sendable, Equatable, Sequence {
    public enum Value: Sendable, Equatable {
        case text(String)
        case binary([UInt8])
    }

    public private(set) var entries: [(key: String, value: Value)] = []

    public init() {}

    /// Metadata holding these text values, in order.
    public init(_ elements: KeyValuePairs<String, String>) {
        for (key, value) in elements { append(key, value) }
    }

    /// Adds a text value; the key is lower-cased.
    public mutating func append(_ key: String, _ value: String) {
        entries.append((key.lowercased(), .text(value)))
    }

    /// Adds a binary value under a `-bin` key.
    public mutating func append(_ key: String, binary value: [UInt8]) {
        entries.append((key.lowercased(), .binary(value)))
    }

    public mutating func append(_ key: String, _ value: Value) {
        entries.append((key.lowercased(), value))
    }

    /// Replaces every value of `key` with one text value.
    public mutating func replace(_ key: String, _ value: String) {
        let key = key.lowercased()
        entries.removeAll { $0.key == key }
        entries.append((key, .text(value)))
    }

    /// The first text value of `key`.
    public subscript(_ key: String) -> String? {
        let key = key.lowercased()
        for entry in entries where entry.key == key {
            if case .text(let text) = entry.value { return text }
        }
        return nil
    }

    /// Every value of `key`, in order.
    public func values(for key: String) -> [Value] {
        let key = key.lowercased()
        return entries.filter { $0.key == key }.map(\.value)
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public func makeIterator() -> some IteratorProtocol<(key: String, value: Value)> {
        entries.makeIterator()
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }
}
