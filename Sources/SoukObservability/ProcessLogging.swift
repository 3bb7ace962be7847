#if canImport(Glibc)
import Glibc
#endif
import Logging
import SoukProtobuf
import SoukRPCCore
import Synchronization

/// How a process writes its log lines.
public enum LogFormat: String, CaseIterable, Sendable {
    /// `2026-12-02T01:30:00.123Z info souk.users: message key=value`: for people.
    case text
    /// One JSON object per line: for log collectors.
    case json
}

/// The logging of a whole process: bootstrapped once, before the first logger is made.
public enum ProcessLogging {
    private static let bootstrapped = Mutex(false)

    /// Sends every logger of the process to standard error in `format`, at `level` and above.
    /// Lines logged while a call is served carry its `request_id` and `trace_id`. Later calls
    /// do nothing: swift-log allows one bootstrap per process (a test may run several commands).
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap({ label, provider in
            LineLogHandler(label: label, format: format, level: level, metadataProvider: provider)
        }, metadataProvider: callMetadata)
    }

    /// The request and trace ids of the call the current task serves, if any.
    public static let callMetadata = Logger.MetadataProvider {
        guard let context = ServerContext.current else { return [:] }
        var metadata: Logger.Metadata = [:]
        if let requestID = context.metadata["x-request-id"] { metadata["request_id"] = "\(requestID)" }
        if let traceID = context.traceID { metadata["trace_id"] = "\(traceID)" }
        return metadata
    }
}

/// Writing whole lines to standard output or error from any thread.
public enum StandardStream {
    /// Writes `text` to the file descriptor with as few write(2)s as it takes (one, for a line
    /// of ordinary length), so that lines written by several threads never interleave.
    public static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// A log handler that writes one line per event to standard error, as text or JSON.
struct LineLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: LogFormat, level: Logger.Level, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let given = event.metadata { merged.merge(given) { $1 } }
        let line = format == .json
            ? Self.jsonLine(time: Self.timestamp(), level: event.level, label: label, message: "\(event.message)", metadata: merged)
            : Self.textLine(time: Self.timestamp(), level: event.level, label: label, message: "\(event.message)", metadata: merged)
        StandardStream.write(line, to: 2)
    }

    static func textLine(time: String, level: Logger.Level, label: String, message: String,
                         metadata: Logger.Metadata) -> String {
        var line = "\(time) \(level) \(label): \(message)"
        for key in metadata.keys.sorted() {
            line += " \(key)=\(textValue(metadata[key]!))"
        }
        return line + "\n"
    }

    /// A value as text, quoted when it has a space, a quote or nothing, so that a line splits back.
    static func textValue(_ value: Logger.MetadataValue) -> String {
        let text = "\(value)"
        guard text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else { return text }
        var quoted = "\""
        for character in text {
            switch character {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            default: quoted.append(character)
            }
        }
        return quoted + "\""
    }

    static func jsonLine(time: String, level: Logger.Level, label: String, message: String,
                         metadata: Logger.Metadata) -> String {
        var line = "{\"time\":\(jsonString(time)),\"level\":\(jsonString(level.rawValue)),\"logger\":\(jsonString(label)),"
        line += "\"message\":\(jsonString(message))"
        for key in metadata.keys.sorted() where !["time", "level", "logger", "message"].contains(key) {
            line += ",\(jsonString(key)):\(jsonValue(metadata[key]!))"
        }
        return line + "}\n"
    }

    static func jsonValue(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return jsonString(text)
        case .stringConvertible(let convertible): return jsonString(convertible.description)
        case .array(let values): return "[" + values.map(jsonValue).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.keys.sorted().map { "\(jsonString($0)):\(jsonValue(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal, escaped as SoukProtobuf's JSON writer escapes one.
    static func jsonString(_ text: String) -> String {
        var writer = JSONWriter()
        writer.value(text)
        return writer.string
    }

    /// The wall-clock time in UTC with milliseconds, `2026-12-02T01:30:00.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
