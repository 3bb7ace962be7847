import Foundation

/// One numbered SQL file: `0001_create_users.sql` is version 1, named `create_users`.
///
/// A file holds any number of statements and runs in a transaction of its own, so it must
/// not contain BEGIN/COMMIT (nor statements that refuse a transaction, such as
/// `CREATE INDEX CONCURRENTLY`).
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let fileName: String
    public let sql: String

    public init(version: Int, name: String, fileName: String, sql: String) {
        self.version = version
        self.name = name
        self.fileName = fileName
        self.sql = sql
    }

    /// Reads every `NNNN_name.sql` in `directory`, sorted by version. Other files are ignored;
    /// a `.sql` file with another name, or two files with one version, is an error.
    public static func load(directory: URL) throws -> [Migration] {
        let fileNames: [String]
        do {
            fileNames = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError.directoryMissing(directory.path)
        }
        var migrations: [Migration] = []
        for fileName in fileNames where fileName.hasSuffix(".sql") {
            guard let (version, name) = parse(fileName) else { throw MigrationError.invalidFileName(fileName) }
            let sql = try String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8)
            migrations.append(Migration(version: version, name: name, fileName: fileName, sql: sql))
        }
        return try validated(migrations)
    }

    /// Reads the migrations a module ships as a resource folder:
    /// `resources: [.copy("Migrations")]` in Package.swift, then
    /// `try Migration.load(bundle: .module)`.
    public static func load(bundle: Bundle, subdirectory: String = "Migrations") throws -> [Migration] {
        guard let url = bundle.url(forResource: subdirectory, withExtension: nil) else {
            throw MigrationError.directoryMissing("\(subdirectory) in \(bundle.bundlePath)")
        }
        return try load(directory: url)
    }

    /// Sorted by version; duplicate versions refused.
    static func validated(_ migrations: [Migration]) throws -> [Migration] {
        let sorted = migrations.sorted { ($0.version, $0.fileName) < ($1.version, $1.fileName) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.version == b.version {
            throw MigrationError.duplicateVersion(a.version, [a.fileName, b.fileName])
        }
        return sorted
    }

    /// `0012_add_index.sql` → (12, "add_index").
    static func parse(_ fileName: String) -> (Int, String)? {
        let stem = fileName.dropLast(".sql".count)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let version = Int(digits),
              !name.isEmpty,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else { return nil }
        return (version, String(name))
    }
}

/// Why migrations could not be read or applied.
public enum MigrationError: Error, Sendable, CustomStringConvertible {
    case directoryMissing(String)
    case invalidFileName(String)
    case duplicateVersion(Int, [String])
    case invalidSchemaName(String)
    /// An applied migration's file changed since it was applied: refuse to go on.
    case checksumMismatch(fileName: String, version: Int, appliedChecksum: String, fileChecksum: String)
    /// The database has a migration that no file here describes (a newer release ran?).
    case appliedMigrationMissing(version: Int, name: String)
    /// A migration's SQL failed; its transaction was rolled back.
    case failed(fileName: String, underlying: PostgresError)

    public var description: String {
        switch self {
        case .directoryMissing(let path): "no migrations folder at \(path)"
        case .invalidFileName(let name): "migration file \(name) is not named NNNN_name.sql"
        case .duplicateVersion(let version, let names): "migration version \(version) is used by \(names.joined(separator: " and "))"
        case .invalidSchemaName(let name): "schema name \(name) is not a plain lower-case identifier"
        case .checksumMismatch(let fileName, let version, let applied, let file):
            "migration \(fileName) (version \(version)) was changed after it was applied: checksum \(file) now, \(applied) when applied; restore the file and add a new migration instead"
        case .appliedMigrationMissing(let version, let name):
            "the database has migration \(version) (\(name)) applied, but no such file is shipped; is this an older release?"
        case .failed(let fileName, let underlying): "migration \(fileName) failed and was rolled back: \(underlying)"
        }
    }
}
