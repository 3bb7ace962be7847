import Logging
@testable import SoukObservability
import SoukRPCCore
import Testing

@Suite("Log lines: one per event, text for people, JSON for collectors")
struct LogLineTests {
    let time = "2026-12-02T01:30:00.123Z"

    @Test("a text line: time, level, logger, message, then the metadata sorted, quoted where it has spaces")
    func textLine() {
        let line = LineLogHandler.textLine(time: time, level: .info, label: "souk.users", message: "rpc served",
                                           metadata: ["rpc.code": "OK", "b": "two words", "a": "say \"hi\"", "empty": ""])
        #expect(line == #"2026-12-02T01:30:00.123Z info souk.users: rpc served a="say \"hi\"" b="two words" empty="" rpc.code=OK"# + "\n")
    }

    @Test("a JSON line is one object on one line, control characters escaped, nested metadata kept as JSON")
    func jsonLine() {
        let line = LineLogHandler.jsonLine(time: time, level: .warning, label: "souk.orders", message: "first\nsecond \u{1}",
                                           metadata: ["request_id": "r-1", "tags": ["a", "b"], "peer": ["host": "127.0.0.1"],
                                                      "message": "a key that would shadow the message is left out"])
        #expect(line == #"{"time":"2026-12-02T01:30:00.123Z","level":"warning","logger":"souk.orders","message":"first\nsecond \u0001","peer":{"host":"127.0.0.1"},"request_id":"r-1","tags":["a","b"]}"# + "\n")
        #expect(line.dropLast().contains("\n") == false)
    }

    @Test("the timestamp is UTC with milliseconds")
    func timestamp() {
        let stamp = LineLogHandler.timestamp()
        #expect(stamp.count == 24 && stamp.hasSuffix("Z") && stamp.dropFirst(10).first == "T", "\(stamp)")
    }

    @Test("inside a served call, every log line carries its request id and trace id; outside, none")
    func callMetadata() {
        var metadata = Metadata()
        metadata.append("x-request-id", "req-42")
        metadata.append("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let context = ServerContext(method: MethodDescriptor(service: "souk.users.v1.UsersService", method: "GetUser", inputType: "", outputType: ""),
                                    metadata: metadata)
        let inside = ServerContext.$current.withValue(context) { ProcessLogging.callMetadata.get() }
        #expect(inside["request_id"] == "req-42")
        #expect(inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(ProcessLogging.callMetadata.get().isEmpty)
    }

    @Test("a traceparent that is not W3C's form gives no trace id")
    func malformedTraceparent() {
        for value in ["", "00-short-00f067aa0ba902b7-01", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-01"] {
            var metadata = Metadata()
            metadata.append("traceparent", value)
            let context = ServerContext(method: MethodDescriptor(service: "s.S", method: "M", inputType: "", outputType: ""), metadata: metadata)
            #expect(context.traceID == nil, "\(value)")
        }
    }

    @Test("log settings: the option, else SOUK_LOG_LEVEL/SOUK_LOG_FORMAT, else info and text; a bad one is named")
    func logOptions() throws {
        let options = try LogOptions.parse(["--log-level", "DEBUG", "--log-format", "json"])
        let resolved = try options.resolved()
        #expect(resolved.level == .debug && resolved.format == .json)
        #expect(throws: (any Error).self) { _ = try LogOptions.parse(["--log-level", "verbose"]) }
        #expect(throws: (any Error).self) { _ = try LogOptions.parse(["--log-format", "xml"]) }
    }
}
