/// A column of a result: its name and PostgreSQL type.
public struct PostgresColumn: Sendable, Hashable {
    public let name: String
    public let dataType: PostgresDataType
}

/// The outcome of one statement: the rows it returned (all of them, in memory — put a
/// LIMIT on queries that could return many) and the number of rows it affected.
public struct PostgresRows: RandomAccessCollection, Sendable {
    let storage: ResultStorage
    /// Rows inserted, updated, deleted, selected, … as the command tag reports; 0 when it reports none.
    public let affectedRows: Int
    /// The command tag, e.g. `INSERT 0 1`, `SELECT 3`.
    public let commandTag: String

    public var columns: [PostgresColumn] { storage.columns }
    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.rowCount }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < storage.rowCount, "row \(position) out of 0..<\(storage.rowCount)")
        return PostgresRow(storage: storage, row: position)
    }
}

/// One row of a result. Decode its values by column name or index:
///
/// ```swift
/// let id = try row.decode("id", as: UUID.self)
/// let (name, age) = try row.decode((String, Int32?).self)   // columns 0 and 1
/// ```
public struct PostgresRow: Sendable {
    let storage: ResultStorage
    let row: Int

    public var columns: [PostgresColumn] { storage.columns }

    /// The value of the column named `column` (the first one, if several share the name).
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = storage.columns.firstIndex(where: { $0.name == column }) else {
            throw PostgresDecodingError(reason: .noSuchColumn(available: storage.columns.map(\.name)),
                                        column: column, columnIndex: nil, swiftType: "\(T.self)", postgresType: nil)
        }
        return try decode(index, as: type)
    }

    /// The value of the column at `index` (0-based).
    public func decode<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        guard index >= 0 && index < storage.columns.count else {
            throw PostgresDecodingError(reason: .noSuchColumn(available: storage.columns.map(\.name)),
                                        column: "#\(index)", columnIndex: index, swiftType: "\(T.self)", postgresType: nil)
        }
        let value = storage.value(row: row, column: index)
        return value.isNull ? try T.decodeNull(value) : try T(postgresValue: value)
    }

    /// The first columns of the row as a tuple, in order: `try row.decode((UUID, String).self)`.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> (repeat each T) {
        var index = 0
        func next<U: PostgresDecodable>(_: U.Type) throws -> U {
            defer { index += 1 }
            return try decode(index, as: U.self)
        }
        return (repeat try next((each T).self))
    }
}

/// One value of a result, handed to `PostgresDecodable` conformers.
public struct PostgresValue: Sendable {
    /// The bytes of the value in PostgreSQL's binary format; empty for NULL.
    public let bytes: ArraySlice<UInt8>
    public let isNull: Bool
    public let dataType: PostgresDataType
    public let columnName: String
    public let columnIndex: Int

    /// The error a decoder throws when `dataType` is not one it reads.
    public func typeMismatch<T>(_ wanted: T.Type) -> PostgresDecodingError {
        PostgresDecodingError(reason: .typeMismatch, column: columnName, columnIndex: columnIndex,
                              swiftType: "\(T.self)", postgresType: dataType)
    }

    /// The error a decoder throws when the bytes are not what `dataType` promises.
    public func malformed<T>(_ wanted: T.Type, _ why: String) -> PostgresDecodingError {
        PostgresDecodingError(reason: .malformed(why), column: columnName, columnIndex: columnIndex,
                              swiftType: "\(T.self)", postgresType: dataType)
    }
}

/// The rows of a result, copied out of libpq's `PGresult` so it can be freed at once:
/// one byte buffer for every cell, plus a start and a length per cell (-1: NULL).
final class ResultStorage: Sendable {
    let columns: [PostgresColumn]
    let rowCount: Int
    let bytes: [UInt8]
    let starts: [Int]
    let lengths: [Int32]

    init(columns: [PostgresColumn], rowCount: Int, bytes: [UInt8], starts: [Int], lengths: [Int32]) {
        self.columns = columns
        self.rowCount = rowCount
        self.bytes = bytes
        self.starts = starts
        self.lengths = lengths
    }

    static let empty = ResultStorage(columns: [], rowCount: 0, bytes: [], starts: [], lengths: [])

    func value(row: Int, column: Int) -> PostgresValue {
        let cell = row * columns.count + column
        let length = lengths[cell]
        let start = starts[cell]
        return PostgresValue(bytes: length < 0 ? [] : bytes[start ..< start + Int(length)],
                             isNull: length < 0, dataType: columns[column].dataType,
                             columnName: columns[column].name, columnIndex: column)
    }
}
