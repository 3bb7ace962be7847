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

    /// Adds an entry as it came off the wire, its key unchanged (not lower-cased), so
    /// that ``violation`` can tell a peer that broke the rules.
    package mutating func appendReceived(_ key: String, _ value: Value) {
        entries.append((key, value))
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

    /// Keys starting with it are reserved for Souk itself: a request may not carry them.
    public static let reservedPrefix = "souk-"

    /// The longest key PROTOCOL.md allows.
    public static let maxKeyLength = 64
    /// The largest value PROTOCOL.md allows, in bytes.
    public static let maxValueBytes = 8192

    /// What is wrong with the first entry that breaks the rules of PROTOCOL.md, for a
    /// person; nil when every entry keeps them. Keys are 1 to 64 of `a-z 0-9 - _ .`;
    /// keys ending in `-bin` carry binary values and the others text; text is printable
    /// ASCII (U+0020 to U+007E); a value is at most 8192 bytes; no key starts with `souk-`.
    public var violation: String? {
        for (key, value) in entries {
            if Self.keeps(key, value) { continue }
            if let problem = Self.keyProblem(key) { return problem }
            switch value {
            case .text(let text):
                if Self.isBinaryKey(key) {
                    return "the value of \"\(key)\" is text, but keys ending in -bin carry binary values"
                }
                if text.utf8.count > Self.maxValueBytes {
                    return "the value of \"\(key)\" is \(text.utf8.count) bytes long; the limit is \(Self.maxValueBytes)"
                }
                if let bad = text.utf8.first(where: { $0 < 0x20 || $0 > 0x7E }) {
                    let what = bad < 0x80 ? "byte 0x\(String(bad, radix: 16, uppercase: true))" : "a byte outside ASCII"
                    return "the value of \"\(key)\" holds \(what); text values are printable ASCII (0x20 to 0x7E); send other bytes under a key ending in -bin"
                }
            case .binary(let bytes):
                if !Self.isBinaryKey(key) {
                    return "the value of \"\(key)\" is binary, but only keys ending in -bin carry binary values"
                }
                if bytes.count > Self.maxValueBytes {
                    return "the value of \"\(key)\" is \(bytes.count) bytes long; the limit is \(Self.maxValueBytes)"
                }
            }
        }
        return nil
    }

    /// Whether an entry keeps the rules, judged on its bytes in place: every call checks its
    /// metadata, and this is the common case. False sends it to the checks that say why.
    private static func keeps(_ key: String, _ value: Value) -> Bool {
        guard let kind = key.utf8.withContiguousStorageIfAvailable(keyKind) else { return false }
        switch value {
        case .text(let text):
            guard kind == .text else { return false }
            return text.utf8.withContiguousStorageIfAvailable { bytes in
                bytes.count <= maxValueBytes && !bytes.contains { $0 < 0x20 || $0 > 0x7E }
            } ?? false
        case .binary(let bytes):
            return kind == .binary && bytes.count <= maxValueBytes
        }
    }

    private enum KeyKind { case invalid, text, binary }

    /// A byte keys may hold: `a-z 0-9 - _ .`.
    private static func isKeyByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F || byte == 0x2E
    }

    private static func keyKind(_ key: UnsafeBufferPointer<UInt8>) -> KeyKind {
        guard !key.isEmpty, key.count <= maxKeyLength else { return .invalid }
        guard key.allSatisfy(isKeyByte) else { return .invalid }
        if key.starts(with: reservedPrefix.utf8) { return .invalid }
        return endsInBin(key) ? .binary : .text
    }

    /// Whether `key` names a binary value: it ends in `-bin`. (Compared as bytes: keys are checked on every call, and
    /// `String.hasSuffix` compares characters.)
    public static func isBinaryKey(_ key: String) -> Bool {
        endsInBin(key.utf8)
    }

    private static func endsInBin(_ bytes: some BidirectionalCollection<UInt8>) -> Bool {
        bytes.count >= 4 && bytes.suffix(4).elementsEqual("-bin".utf8)
    }

    private static func keyProblem(_ key: String) -> String? {
        let bytes = key.utf8
        let valid = !bytes.isEmpty && bytes.count <= maxKeyLength && bytes.allSatisfy(isKeyByte)
        if valid {
            if bytes.starts(with: reservedPrefix.utf8) {
                return "the metadata key \"\(key)\" is reserved: keys starting with \(reservedPrefix) are Souk's own and never sent by a client"
            }
            return nil
        }
        // Quoted with its odd bytes escaped and at most 64 characters shown, so that a
        // hostile key cannot flood or garble the message.
        var shown = ""
        for scalar in key.unicodeScalars.prefix(maxKeyLength) {
            shown += scalar.isASCII && scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "\\"
                ? String(scalar) : scalar.escaped(asASCII: true)
        }
        if key.unicodeScalars.count > maxKeyLength { shown += "…" }
        return "the metadata key \"\(shown)\" is invalid: keys are 1 to \(maxKeyLength) of lower-case ASCII letters, digits, '-', '_' and '.'"
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }
}
