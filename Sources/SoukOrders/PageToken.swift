import Foundation
import SoukAuth
import SoukProtobuf

/// Where the next page of a user's orders starts: after this order, in the order of
/// (created_at, order_id) descending. Handed out sealed (``MessageAuthenticator``), so a
/// client can neither forge one nor use another user's.
struct PageToken: Equatable {
    var userID: UUID
    var createdAt: Google_Protobuf_Timestamp
    var orderID: UUID

    private static let version: UInt8 = 1

    func sealed(with authenticator: MessageAuthenticator) -> String {
        var bytes: [UInt8] = [Self.version]
        bytes += Self.bytes(of: userID)
        withUnsafeBytes(of: createdAt.seconds.bigEndian) { bytes += $0 }
        withUnsafeBytes(of: createdAt.nanos.bigEndian) { bytes += $0 }
        bytes += Self.bytes(of: orderID)
        return authenticator.seal(bytes)
    }

    /// The token `text` holds, if this service sealed it; nil when it was altered or forged.
    static func opened(_ text: String, with authenticator: MessageAuthenticator) -> PageToken? {
        guard let bytes = authenticator.open(text), bytes.count == 1 + 16 + 8 + 4 + 16, bytes[0] == version else {
            return nil
        }
        let seconds = bytes[17..<25].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let nanos = bytes[25..<29].reduce(Int32(0)) { $0 << 8 | Int32($1) }
        return PageToken(userID: uuid(bytes[1..<17]), createdAt: Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos),
                         orderID: uuid(bytes[29..<45]))
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
