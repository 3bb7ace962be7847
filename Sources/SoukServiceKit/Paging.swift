import Foundation
import SoukAuth
import SoukProtobuf
import SoukWire

/// Where the next page of a listing starts: after the row `id`, in the order of
/// (created_at, id). `scope` names the listing (the user whose orders, the order whose
/// payments), so that a token is good for its own listing only. Handed out sealed
/// (``MessageAuthenticator``), so a client can neither forge one nor alter it.
public struct PageToken: Equatable, Sendable {
    public var scope: UUID
    public var createdAt: Google_Protobuf_Timestamp
    public var id: UUID

    public init(scope: UUID, createdAt: Google_Protobuf_Timestamp, id: UUID) {
        self.scope = scope
        self.createdAt = createdAt
        self.id = id
    }

    private static let version: UInt8 = 1

    /// The token as the text a response carries.
    public func sealed(with authenticator: MessageAuthenticator) -> String {
        var bytes: [UInt8] = [Self.version]
        bytes += Self.bytes(of: scope)
        withUnsafeBytes(of: createdAt.seconds.bigEndian) { bytes += $0 }
        withUnsafeBytes(of: createdAt.nanos.bigEndian) { bytes += $0 }
        bytes += Self.bytes(of: id)
        return authenticator.seal(bytes)
    }

    /// The token `text` holds, if this service sealed it; nil when it was altered or forged.
    public static func opened(_ text: String, with authenticator: MessageAuthenticator) -> PageToken? {
        guard let bytes = authenticator.open(text), bytes.count == 1 + 16 + 8 + 4 + 16, bytes[0] == version else {
            return nil
        }
        let seconds = bytes[17..<25].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let nanos = bytes[25..<29].reduce(Int32(0)) { $0 << 8 | Int32($1) }
        return PageToken(scope: uuid(bytes[1..<17]), createdAt: Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos),
                         id: uuid(bytes[29..<45]))
    }

    private static func bytes(of id: UUID) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { Array($0) }
    }

    private static func uuid(_ bytes: ArraySlice<UInt8>) -> UUID {
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        return UUID(uuid: value)
    }
}

/// One page asked for: how many rows at most, and after which.
public struct PageRequest: Sendable {
    public static let defaultSize = 20
    public static let maxSize = 100

    public var size: Int
    public var after: PageToken?
}

extension FieldViolations {
    /// The page a list request asks for: `page_size` 1 to 100 (0: the default, 20) and
    /// `page_token` empty or a token this service sealed for the listing `scope`. Nil, with
    /// the violations added, when either is wrong.
    public mutating func page(size: Int32, token: String, scope: UUID,
                              authenticator: MessageAuthenticator) -> PageRequest? {
        var valid = true
        let pageSize = size == 0 ? PageRequest.defaultSize : Int(size)
        if !(1...PageRequest.maxSize).contains(pageSize) {
            add("page_size", "must be 1 to \(PageRequest.maxSize) (0 for the default, \(PageRequest.defaultSize)), found \(size)")
            valid = false
        }
        var after: PageToken? = nil
        if !token.isEmpty {
            if let opened = PageToken.opened(token, with: authenticator) {
                if opened.scope == scope {
                    after = opened
                } else {
                    add("page_token", "was made for another listing; start again without a page token")
                    valid = false
                }
            } else {
                add("page_token", "is not a page token of this service (altered or forged); pass next_page_token unchanged")
                valid = false
            }
        }
        return valid ? PageRequest(size: pageSize, after: after) : nil
    }

    /// Three upper-case ASCII letters, an ISO 4217 code such as EUR; a violation of `field` otherwise.
    public mutating func currency(_ currency: String, field: String = "currency") {
        if currency.isEmpty {
            add(field, "is required: an ISO 4217 code such as EUR")
            return
        }
        let bytes = Array(currency.utf8)
        if bytes.count != 3 || !bytes.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) {
            add(field, "must be three upper-case letters, an ISO 4217 code such as EUR")
        }
    }
}
