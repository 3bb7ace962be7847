import CLibPQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libpq connection (`PGconn`), used in blocking mode by exactly one worker thread.
///
/// Not Sendable on purpose: it never leaves its worker. Other threads reach the server
/// through `cancelHandle` only.
final class LibPQConnection {
    private let handle: OpaquePointer
    /// The connection's `PGcancel`, for cancel requests sent from other threads.
    let cancelHandle: CancelHandle?
    /// Set when something makes the session's state untrustworthy (a cancel request that
    /// may still be in flight); the worker closes it instead of reusing it.
    var discardAfterUse = false

    private init(handle: OpaquePointer) {
        self.handle = handle
        self.cancelHandle = PQgetCancel(handle).map(CancelHandle.init)
        // Notices ("relation already exists, skipping") would go to stderr by default.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// Opens a connection; blocks for at most libpq's `connect_timeout`.
    static func connect(_ parameters: [(keyword: String, value: String)]) -> Result<LibPQConnection, PostgresError> {
        let keywords = parameters.map { strdup($0.keyword) } + [nil]
        let values = parameters.map { strdup($0.value) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let handle = keywords.map { UnsafePointer($0) }.withUnsafeBufferPointer { keywordPointers in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { valuePointers in
                PQconnectdbParams(keywordPointers.baseAddress, valuePointers.baseAddress, 0)
            }
        }
        guard let handle else { return .failure(PostgresError(kind: .connectionFailed, message: "out of memory")) }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines
            PQfinish(handle)
            return .failure(PostgresError(kind: .connectionFailed, message: message))
        }
        return .success(LibPQConnection(handle: handle))
    }

    var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    /// True when the session is outside any transaction block.
    var isIdleOutsideTransaction: Bool { PQtransactionStatus(handle) == PQTRANS_IDLE }

    /// A check that costs one `poll`: an idle connection has nothing to read, so readable
    /// means the server sent something unasked — usually a FATAL before closing, or EOF.
    /// Such a connection is given up even when libpq still calls it OK: after a server
    /// crash libpq reads the FATAL notice first and learns of the EOF only at the next
    /// statement, which would then fail. (Nothing here LISTENs, so no notification is lost.)
    func looksAlive() -> Bool {
        guard isOK else { return false }
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        guard descriptor.fd >= 0 else { return false }
        return poll(&descriptor, 1, 0) == 0
    }

    /// A round trip to the server: `SELECT 1`.
    func ping() -> Bool {
        guard let result = PQexec(handle, "SELECT 1") else { return false }
        defer { PQclear(result) }
        return PQresultStatus(result) == PGRES_TUPLES_OK && isOK
    }

    /// Statements this session has prepared, by SQL text and parameter types.
    private var preparedStatements: [StatementKey: String] = [:]
    private var preparedCount = 0

    private struct StatementKey: Hashable {
        let sql: String
        let types: [UInt32]
    }

    /// How many statements one session keeps prepared. SQL comes from string literals, so a
    /// program has a bounded set of them; past this bound statements run unnamed.
    static let preparedStatementLimit = 1000

    /// Runs one parameterised statement (extended protocol), results in binary.
    ///
    /// Each distinct statement is prepared once per connection (`PQprepare`) and then only
    /// executed (`PQexecPrepared`): the server skips parsing and, once it settles on a generic
    /// plan, planning — most of the cost of a short query.
    func execute(_ query: SQLQuery) -> Result<PostgresRows, PostgresError> {
        let name: String?
        switch statementName(for: query) {
        case .failure(let error): return .failure(error)
        case .success(let prepared): name = prepared
        }
        guard let name else { return consume(executeUnnamed(query)) }
        let result = consume(executePrepared(name, query.bindings))
        if case .failure(let error) = result, Self.isStaleStatement(error) {
            forgetStatement(for: query)
            // Outside a transaction block the failed attempt left nothing behind: prepare anew.
            if isIdleOutsideTransaction { return execute(query) }
        }
        return result
    }

    /// The error of a prepared statement that is gone (DEALLOCATE, DISCARD) or stale (a table
    /// changed under a `SELECT *`): the statement must be prepared again.
    static func isStaleStatement(_ error: PostgresError) -> Bool {
        error.sqlState == SQLState.invalidSQLStatementName
            || (error.sqlState == SQLState.featureNotSupported && error.message.contains("cached plan"))
    }

    func forgetStatement(for query: SQLQuery) {
        preparedStatements[StatementKey(sql: query.sql, types: query.bindings.types)] = nil
    }

    /// The name `query` is prepared under in this session, preparing it first if needed; nil
    /// when the session holds as many statements as it may (the query then runs unnamed).
    private func statementName(for query: SQLQuery) -> Result<String?, PostgresError> {
        let key = StatementKey(sql: query.sql, types: query.bindings.types)
        if let name = preparedStatements[key] { return .success(name) }
        guard preparedStatements.count < Self.preparedStatementLimit else { return .success(nil) }
        preparedCount += 1
        let name = "souk_\(preparedCount)"
        let bindings = query.bindings
        if case .failure(let error) = consume(PQprepare(handle, name, query.sql, Int32(bindings.count), bindings.types)) {
            return .failure(error)
        }
        preparedStatements[key] = name
        return .success(name)
    }

    /// Runs several independent statements in one round trip (libpq's pipeline mode) such that
    /// each behaves as its own implicit transaction: one failing leaves the others alone. One
    /// result per query, in order.
    ///
    /// With `readsShareOneSync`, the caller vouches that every statement is a read with no
    /// effect but its rows (`PostgresPool.read`): they go out under a single sync, as one
    /// implicit transaction, and the server answers them all in one flush, where a sync per
    /// statement costs it a send, and this thread a wake-up, per statement (GetCurrentUser over
    /// RPC at 64 in flight, three runs each: 24.2-28.6k calls/s with a sync each, 30.2-34.3k
    /// with one for all). When one fails, or the commit at the sync does, the server rolls the
    /// others back or skips them, and they run again, each with its own sync.
    ///
    /// The caller keeps the batch small (parameters of a few KB): the connection is in blocking
    /// mode, and everything is sent before anything is read, which cannot deadlock only while
    /// the requests fit in the sockets' buffers.
    ///
    /// `stillWanted(i)` is asked before statement `i` runs a second time; a statement no longer
    /// wanted (its caller cancelled) is not run again and fails as cancelled instead.
    func executePipeline(_ queries: [SQLQuery], readsShareOneSync: Bool = false,
                         stillWanted: (Int) -> Bool = { _ in true }) -> [Result<PostgresRows, PostgresError>] {
        var results = [Result<PostgresRows, PostgresError>?](repeating: nil, count: queries.count)
        var names = [String?](repeating: nil, count: queries.count)
        for (index, query) in queries.enumerated() {
            switch statementName(for: query) {
            case .success(let name): names[index] = name
            case .failure(let error): results[index] = .failure(error)
            }
        }
        guard PQenterPipelineMode(handle) == 1 else {
            return queries.indices.map { results[$0] ?? execute(queries[$0]) }
        }
        if readsShareOneSync, queries.count > 1 {
            var again: [Int] = []
            for index in executeUnderOneSync(queries, names: names, results: &results) {
                if stillWanted(index) {
                    again.append(index)
                } else {
                    results[index] = .failure(PostgresError(kind: .client, sqlState: SQLState.queryCanceled,
                                                            message: "cancelled before it could run again"))
                }
            }
            if !again.isEmpty {
                for (index, result) in zip(again, executePipeline(again.map { queries[$0] })) {
                    results[index] = result
                }
            }
            return results.map { $0 ?? .failure(unansweredError()) }
        }
        // Send every statement that has no result yet, each followed by a sync. libpq flushes
        // at each sync, so on TCP the socket is corked meanwhile: the pipeline leaves in one
        // burst, rather than a segment (and a wake-up of the server) per statement.
        let corked = queries.count > 1 && setTCPCork(true)
        var sent: [Int] = []
        for (index, query) in queries.enumerated() where results[index] == nil {
            guard send(query, preparedAs: names[index]), PQpipelineSync(handle) == 1 else { break }
            sent.append(index)
        }
        if corked { _ = setTCPCork(false) }
        // Read them back: per statement its result, a NULL, then the sync's result.
        var position = 0
        var current: Result<PostgresRows, PostgresError>?
        var emptyReads = 0
        while position < sent.count {
            guard let result = PQgetResult(handle) else {
                emptyReads += 1
                if !isOK || emptyReads > 2 { break }
                continue
            }
            emptyReads = 0
            if PQresultStatus(result) == PGRES_PIPELINE_SYNC {
                PQclear(result)
                results[sent[position]] = current ?? .failure(PostgresError(kind: .client, message: "no result for a pipelined statement"))
                current = nil
                position += 1
            } else if current == nil {
                current = consume(result)
            } else if case .failure(let error) = consume(result) {
                // The commit at the sync failed (a deferred constraint, a serialization
                // failure): the statement's work is undone, whatever it answered first.
                current = .failure(error)
            }
        }
        if position < sent.count || PQexitPipelineMode(handle) != 1 {
            // Something broke mid-pipeline: this session cannot be trusted again.
            discardAfterUse = true
        }
        return results.map { $0 ?? .failure(unansweredError()) }
    }

    /// What a pipelined statement that got no result answers.
    private func unansweredError() -> PostgresError {
        isOK ? PostgresError(kind: .client, message: String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines) : clientError()
    }

    /// Sends the statements that have no result yet followed by one sync, in pipeline mode, and
    /// reads their results into `results`; leaves pipeline mode. Returns the statements to run
    /// again: none when all succeeded; when one failed, every other one sent (those before it
    /// were rolled back with it, those after it skipped); when the commit at the sync failed,
    /// all of them.
    private func executeUnderOneSync(_ queries: [SQLQuery], names: [String?],
                                     results: inout [Result<PostgresRows, PostgresError>?]) -> [Int] {
        var sent: [Int] = []
        for (index, query) in queries.enumerated() where results[index] == nil {
            guard send(query, preparedAs: names[index]) else { break }
            sent.append(index)
        }
        guard PQpipelineSync(handle) == 1 else {
            discardAfterUse = true
            return []
        }
        // Per statement its result then a NULL; a skipped one's result is PGRES_PIPELINE_ABORTED.
        // Then the sync's result.
        var position = 0
        var current: Result<PostgresRows, PostgresError>?
        var failed: Int?
        var commitFailed = false
        var synced = false
        var emptyReads = 0
        while !synced {
            guard let result = PQgetResult(handle) else {
                if let finished = current, position < sent.count {
                    results[sent[position]] = finished
                    if case .failure = finished { failed = sent[position] }
                    current = nil
                    position += 1
                    continue
                }
                emptyReads += 1
                if !isOK || emptyReads > 2 { break }
                continue
            }
            emptyReads = 0
            switch PQresultStatus(result) {
            case PGRES_PIPELINE_SYNC:
                PQclear(result)
                synced = true
            case PGRES_PIPELINE_ABORTED:
                PQclear(result)
                if current == nil, position < sent.count { position += 1 }
            default:
                if position == sent.count {
                    // A result after every statement's: the commit at the sync failed.
                    PQclear(result)
                    commitFailed = true
                } else if current == nil {
                    current = consume(result)
                } else {
                    PQclear(result)
                }
            }
        }
        if !synced || position < sent.count || PQexitPipelineMode(handle) != 1 {
            // Something broke mid-pipeline: this session cannot be trusted again.
            discardAfterUse = true
            for index in sent where index != failed { results[index] = nil }
            return []
        }
        if commitFailed {
            for index in sent { results[index] = nil }
            return sent
        }
        guard let failed else { return [] }
        let again = sent.filter { $0 != failed }
        for index in again { results[index] = nil }
        return again
    }

    /// Queues one statement of a pipeline: the prepared statement `name`, or the text itself.
    private func send(_ query: SQLQuery, preparedAs name: String?) -> Bool {
        let bindings = query.bindings
        return withParameterValues(bindings) { values in
            if let name {
                PQsendQueryPrepared(handle, name, Int32(bindings.count), values, bindings.lengths, bindings.formats,
                                    PostgresFormat.binary.rawValue)
            } else {
                PQsendQueryParams(handle, query.sql, Int32(bindings.count), bindings.types, values, bindings.lengths,
                                  bindings.formats, PostgresFormat.binary.rawValue)
            }
        } == 1
    }

    /// Sets TCP_CORK on the connection's socket; false where it does not apply (a Unix socket).
    private func setTCPCork(_ on: Bool) -> Bool {
        #if os(Linux)
        var value: Int32 = on ? 1 : 0
        return setsockopt(PQsocket(handle), Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
        #else
        return false
        #endif
    }

    private func withParameterValues<T>(_ bindings: PostgresBindings, _ body: ([UnsafePointer<CChar>?]) -> T) -> T {
        bindings.bytes.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            let values: [UnsafePointer<CChar>?] = (0 ..< bindings.count).map { i in
                bindings.lengths[i] < 0 ? nil : (base + bindings.offsets[i]).assumingMemoryBound(to: CChar.self)
            }
            return body(values)
        }
    }

    private func executePrepared(_ name: String, _ bindings: PostgresBindings) -> OpaquePointer? {
        withParameterValues(bindings) { values in
            PQexecPrepared(handle, name, Int32(bindings.count), values, bindings.lengths, bindings.formats,
                           PostgresFormat.binary.rawValue)
        }
    }

    private func executeUnnamed(_ query: SQLQuery) -> OpaquePointer? {
        let bindings = query.bindings
        return withParameterValues(bindings) { values in
            PQexecParams(handle, query.sql, Int32(bindings.count), bindings.types, values,
                         bindings.lengths, bindings.formats, PostgresFormat.binary.rawValue)
        }
    }

    /// Runs SQL text through the simple protocol (`PQexec`): one or more statements, no
    /// parameters. Only for SQL the library trusts — transaction control and migration files.
    func executeScript(_ sql: String) -> Result<PostgresRows, PostgresError> {
        consume(PQexec(handle, sql))
    }

    private func consume(_ result: OpaquePointer?) -> Result<PostgresRows, PostgresError> {
        guard let result else { return .failure(clientError()) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
            return .success(Self.rows(of: result))
        }
        return .failure(serverError(result))
    }

    private func clientError() -> PostgresError {
        let message = String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines
        return PostgresError(kind: isOK ? .client : .connectionLost, message: message)
    }

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        guard let sqlState = field("C") else {
            // libpq made this error itself: most often the connection broke mid-statement.
            let message = String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines
            return PostgresError(kind: isOK ? .client : .connectionLost,
                                 message: message.isEmpty ? clientError().message : message)
        }
        return PostgresError(kind: .server, sqlState: sqlState, message: field("M") ?? "", detail: field("D"),
                             hint: field("H"), severity: field("V") ?? field("S"), schema: field("s"),
                             table: field("t"), column: field("c"), constraint: field("n"), dataType: field("d"))
    }

    /// Copies a result into Swift storage so the `PGresult` can be freed at once.
    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let fieldCount = Int(PQnfields(result))
        let tag = String(cString: PQcmdStatus(result))
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        guard fieldCount > 0 else {
            return PostgresRows(storage: .empty, affectedRows: affected, commandTag: tag)
        }
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(fieldCount)
        for field in 0 ..< Int32(fieldCount) {
            columns.append(PostgresColumn(name: String(cString: PQfname(result, field)),
                                          dataType: PostgresDataType(PQftype(result, field))))
        }
        let cells = rowCount * fieldCount
        var starts = [Int](repeating: 0, count: cells)
        var lengths = [Int32](repeating: -1, count: cells)
        var total = 0
        for row in 0 ..< Int32(rowCount) {
            for field in 0 ..< Int32(fieldCount) where PQgetisnull(result, row, field) == 0 {
                total += Int(PQgetlength(result, row, field))
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(total)
        var cell = 0
        for row in 0 ..< Int32(rowCount) {
            for field in 0 ..< Int32(fieldCount) {
                if PQgetisnull(result, row, field) == 0 {
                    let length = PQgetlength(result, row, field)
                    starts[cell] = bytes.count
                    lengths[cell] = length
                    if length > 0, let value = PQgetvalue(result, row, field) {
                        bytes.append(contentsOf: UnsafeRawBufferPointer(start: value, count: Int(length)))
                    }
                }
                cell += 1
            }
        }
        let storage = ResultStorage(columns: columns, rowCount: rowCount, bytes: bytes, starts: starts, lengths: lengths)
        return PostgresRows(storage: storage, affectedRows: affected, commandTag: tag)
    }
}

/// A connection's `PGcancel`. libpq documents `PQcancel` as safe to call from any thread
/// while the connection's own thread is blocked in a query; it only reads this object.
final class CancelHandle: @unchecked Sendable {
    private let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { PQfreeCancel(pointer) }

    /// Asks the server to cancel whatever the connection runs now. Blocks for a round trip.
    func cancel() {
        var errorBuffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &errorBuffer, Int32(errorBuffer.count))
    }
}
