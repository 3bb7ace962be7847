import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// `--log-level` and `--log-format`, shared by every command that runs a process.
public struct LogOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The lowest level logged (else SOUK_LOG_LEVEL; default info).",
                               valueName: "trace|debug|info|notice|warning|error|critical"))
    public var logLevel: String?
    @Option(help: ArgumentHelp("Log lines as text or one JSON object each (else SOUK_LOG_FORMAT; default text).",
                               valueName: "text|json"))
    public var logFormat: String?

    public init() {}

    /// The level and format from the options, else the environment, else info and text;
    /// a ValidationError naming the setting when one is not a known value.
    public func resolved() throws -> (level: Logger.Level, format: LogFormat) {
        let levelText = logLevel ?? Self.environment("SOUK_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ValidationError("--log-level (SOUK_LOG_LEVEL) must be one of trace, debug, info, notice, warning, error, "
                                  + "critical, not \(levelText)")
        }
        let formatText = logFormat ?? Self.environment("SOUK_LOG_FORMAT") ?? "text"
        guard let format = LogFormat(rawValue: formatText.lowercased()) else {
            throw ValidationError("--log-format (SOUK_LOG_FORMAT) must be text or json, not \(formatText)")
        }
        return (level, format)
    }

    public func validate() throws {
        _ = try resolved()
    }

    /// Bootstraps the process's logging with these settings (once per process).
    public func bootstrap() throws {
        let (level, format) = try resolved()
        ProcessLogging.bootstrap(level: level, format: format)
    }

    static func environment(_ variable: String) -> String? {
        guard let value = getenv(variable).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return value
    }
}
