import Foundation
import SoukRPCCore
import SoukWire

extension FieldViolations {
    /// The UUID in `text`, the value of request field `field`; when it is missing or not a UUID,
    /// a violation saying so (`what` names the id, e.g. "the id of an order") and nil.
    public mutating func id(_ text: String, field: String, what: String) -> UUID? {
        guard let id = UUID(text: text) else {
            add(field, text.isEmpty ? "is required" : "must be \(what) (a UUID)")
            return nil
        }
        return id
    }

    /// The UUID in `text`; INVALID_ARGUMENT naming `field` when it is missing or not a UUID.
    public static func requireID(_ text: String, field: String, what: String) throws(RPCError) -> UUID {
        var violations = FieldViolations()
        guard let id = violations.id(text, field: field, what: what) else { throw violations.error }
        return id
    }
}
