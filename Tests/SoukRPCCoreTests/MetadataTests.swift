import SoukRPCCore
import Testing

@Suite("Call metadata")
struct MetadataTests {
    @Test("keys are lower-cased when added, and looked up case-insensitively")
    func keysAreLowerCased() {
        var metadata = Metadata(["X-Request-ID": "r1"])
        metadata.append("TraceParent", "t1")
        metadata.append("Trace-BIN", binary: [1])
        metadata.append("X-Mode", .text("m"))
        #expect(metadata.entries.map(\.key) == ["x-request-id", "traceparent", "trace-bin", "x-mode"])
        #expect(metadata["x-request-id"] == "r1")
        #expect(metadata["X-REQUEST-ID"] == "r1")
        #expect(metadata.values(for: "TRACE-bin") == [.binary([1])])
    }

    @Test("a new Metadata is empty")
    func empty() {
        let metadata = Metadata()
        #expect(metadata.isEmpty)
        #expect(metadata.count == 0)
        #expect(metadata["anything"] == nil)
        #expect(metadata.values(for: "anything").isEmpty)
    }

    @Test("binary values keep every byte, and are not returned as text")
    func binaryValues() {
        var metadata = Metadata()
        let bytes: [UInt8] = [0, 0xFF, 0x0A, 0x0D, 0x3A]
        metadata.append("details-bin", binary: bytes)
        #expect(metadata.values(for: "details-bin") == [.binary(bytes)])
        #expect(metadata["details-bin"] == nil)
    }

    @Test("the subscript gives the first text value of a key")
    func firstTextValue() {
        var metadata = Metadata()
        metadata.append("k", binary: [1])
        metadata.append("k", "first")
        metadata.append("k", "second")
        #expect(metadata["k"] == "first")
    }

    @Test("values(for:) gives every value of a key in the order added, and only that key's")
    func valuesInOrder() {
        var metadata = Metadata(["a": "1", "b": "x", "A": "2"])
        metadata.append("a", binary: [3])
        #expect(metadata.values(for: "a") == [.text("1"), .text("2"), .binary([3])])
        #expect(metadata.values(for: "b") == [.text("x")])
        #expect(metadata.count == 4)
    }

    @Test("replace drops every value of the key and leaves one text value")
    func replace() {
        var metadata = Metadata(["k": "1", "other": "o", "K": "2"])
        metadata.append("k", binary: [9])
        metadata.replace("K", "3")
        #expect(metadata.values(for: "k") == [.text("3")])
        #expect(metadata["other"] == "o")
        #expect(metadata.count == 2)
    }

    @Test("replace adds a key that was not there")
    func replaceAdds() {
        var metadata = Metadata()
        metadata.replace("New-Key", "v")
        #expect(metadata.entries.map(\.key) == ["new-key"])
        #expect(metadata["new-key"] == "v")
    }

    @Test("iteration yields the entries in order")
    func iteration() {
        var metadata = Metadata(["a": "1", "b": "2"])
        metadata.append("c-bin", binary: [3])
        let keys = metadata.map(\.key)
        let values = metadata.map(\.value)
        #expect(keys == ["a", "b", "c-bin"])
        #expect(values == [.text("1"), .text("2"), .binary([3])])
    }

    @Test("metadata are equal when their entries are, in the same order")
    func equality() {
        #expect(Metadata(["a": "1", "b": "2"]) == Metadata(["A": "1", "B": "2"]))
        #expect(Metadata() == Metadata())
        #expect(Metadata(["a": "1", "b": "2"]) != Metadata(["b": "2", "a": "1"]))
        #expect(Metadata(["a": "1"]) != Metadata(["a": "2"]))
        #expect(Metadata(["a": "1"]) != Metadata(["a": "1", "a": "1"]))
        #expect(Metadata(["a": "1"]) != Metadata())

        var text = Metadata()
        text.append("k-bin", "AQI=")
        var binary = Metadata()
        binary.append("k-bin", binary: [1, 2])
        #expect(text != binary)
    }

    @Test("metadata built through append keeps the rules; text, binary and -bin keys in their places")
    func validMetadata() {
        var metadata = Metadata(["X-Request-ID": "r1", "traceparent": "00-abc-def-01"])
        metadata.append("trace-bin", binary: [0, 255])
        metadata.append("x.dotted_key-1", String(repeating: "~", count: Metadata.maxValueBytes))
        metadata.append("authorization", "Bearer a.b.c")
        #expect(metadata.violation == nil)
        #expect(Metadata().violation == nil)
    }

    @Test("violation names the first entry that breaks a rule and says which", arguments: [
        ("Upper", Metadata.Value.text("v"), "the metadata key \"Upper\" is invalid"),
        ("", .text("v"), "the metadata key \"\" is invalid"),
        ("tab\tkey", .text("v"), "the metadata key \"tab\\tkey\" is invalid"),
        ("k-bin", .text("v"), "the value of \"k-bin\" is text, but keys ending in -bin carry binary values"),
        ("k", .binary([1]), "the value of \"k\" is binary, but only keys ending in -bin carry binary values"),
        ("k", .text("a\u{7F}"), "the value of \"k\" holds byte 0x7F"),
        ("k", .text("\u{0}"), "the value of \"k\" holds byte 0x0"),
        ("k", .text("é"), "the value of \"k\" holds a byte outside ASCII"),
        ("k", .text(String(repeating: "a", count: 8193)), "the value of \"k\" is 8193 bytes long"),
        ("k-bin", .binary([UInt8](repeating: 0, count: 8193)), "the value of \"k-bin\" is 8193 bytes long"),
        ("souk-deadline", .text("1"), "the metadata key \"souk-deadline\" is reserved"),
        (String(repeating: "k", count: 65), .text("v"), "the metadata key \"kkkk"),
    ] as [(String, Metadata.Value, String)])
    func violations(key: String, value: Metadata.Value, message: String) {
        var metadata = Metadata(["fine": "ok"])
        metadata.appendReceived(key, value)
        metadata.appendReceived("ALSO-BAD", .text("v"))
        #expect(metadata.violation?.hasPrefix(message) == true, "\(metadata.violation ?? "nil")")
    }

    @Test("a hostile key is shown escaped and cut to 64 characters")
    func hostileKeyIsShownSafely() {
        var metadata = Metadata()
        metadata.appendReceived("\u{1B}[31m" + String(repeating: "x", count: 500), .text("v"))
        let message = metadata.violation ?? ""
        #expect(!message.contains("\u{1B}"))
        #expect(message.contains("\\u{1B}"))
        #expect(message.contains("…"))
        #expect(message.count < 300)
    }

    @Test("appendReceived keeps the key as it came")
    func appendReceivedKeepsKey() {
        var metadata = Metadata()
        metadata.appendReceived("X-Raw", .text("v"))
        #expect(metadata.entries.map(\.key) == ["X-Raw"])
    }
}
