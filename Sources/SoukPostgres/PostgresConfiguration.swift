import CLibPQ

/// Where and how to connect: a PostgreSQL URL plus the options Souk sets in code.
///
/// ```swift
/// var config = try PostgresConfiguration(url: "postgres://souk_users:pw@127.0.0.1:55432/souk_users?sslmode=disable")
/// config.applicationName = "souk-users"
/// config.statementTimeout = .seconds(5)
/// ```
///
/// The URL is parsed by libpq itself (`PQconninfoParse`), so everything libpq's URIs accept
/// works: `sslmode`, `connect_timeout`, `application_name`, `options`, several hosts, and a
/// unix-socket directory either as `?host=/path/to/dir` or percent-encoded as the host
/// (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`).
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// libpq connection keywords and values from the URL, in order.
    var urlParameters: [(keyword: String, value: String)]

    /// `application_name`, shown in `pg_stat_activity`; replaces the URL's when set.
    public var applicationName: String?
    /// `statement_timeout` for every statement on the connection (milliseconds precision).
    public var statementTimeout: Duration?
    /// How long opening a connection may take when the URL sets no `connect_timeout`
    /// (libpq counts whole seconds, at least 2).
    public var connectTimeout: Duration = .seconds(5)

    /// Parses a `postgres://` or `postgresql://` URL.
    public init(url: String) throws {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw PostgresError(kind: .client, message: "not a PostgreSQL URL (postgres://user:password@host:port/database?…)")
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "out of memory"
            errorMessage.map { PQfreemem($0) }
            throw PostgresError(kind: .client, message: "invalid PostgreSQL URL: \(message.trimmingTrailingNewlines)")
        }
        defer { PQconninfoFree(options) }
        var parameters: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                parameters.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        self.urlParameters = parameters
    }

    /// The value the URL gives a libpq keyword (`host`, `port`, `dbname`, `user`, …).
    public func urlParameter(_ keyword: String) -> String? {
        urlParameters.last(where: { $0.keyword == keyword })?.value
    }

    /// Keywords and values for `PQconnectdbParams`: the URL's, then this struct's options.
    var connectionParameters: [(keyword: String, value: String)] {
        var parameters = urlParameters.filter { $0.keyword != "client_encoding" }
        // The library decodes text as UTF-8 and always asks for it.
        parameters.append(("client_encoding", "UTF8"))
        if let applicationName {
            parameters.removeAll { $0.keyword == "application_name" }
            parameters.append(("application_name", applicationName))
        }
        if urlParameter("connect_timeout") == nil {
            let seconds = max(2, Int((Double(connectTimeout.components.seconds) + Double(connectTimeout.components.attoseconds) / 1e18).rounded(.up)))
            parameters.append(("connect_timeout", String(seconds)))
        }
        if let statementTimeout {
            let (seconds, attoseconds) = statementTimeout.components
            let milliseconds = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            let existing = urlParameter("options").map { $0 + " " } ?? ""
            parameters.removeAll { $0.keyword == "options" }
            parameters.append(("options", existing + "-c statement_timeout=\(milliseconds)"))
        }
        return parameters
    }

    /// The connection target with the password left out.
    public var description: String {
        let shown = connectionParameters.filter { $0.keyword != "password" }.map { "\($0.keyword)=\($0.value)" }
        return "PostgresConfiguration(\(shown.joined(separator: " ")))"
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
