import SoukProtobuf
import SoukRPCCore

/// Collects every problem with a request's fields, so that a caller learns all of them at once.
public struct FieldViolations: Sendable {
    public private(set) var violations: [FieldViolation] = []

    public init() {}

    /// Records that `field` (the proto field name, nested fields joined by `.`) is wrong, and why.
    public mutating func add(_ field: String, _ description: String) {
        var violation = FieldViolation()
        violation.field = field
        violation.description = description
        violations.append(violation)
    }

    public var isEmpty: Bool { violations.isEmpty }

    /// Violations named in the message; the details carry them all.
    public static let summarized = 10

    /// INVALID_ARGUMENT naming the first ``summarized`` violations in the message (and
    /// how many more there are), and every one as `ErrorDetails` in the details.
    public var error: RPCError {
        var summary = violations.prefix(Self.summarized).map { "\($0.field): \($0.description)" }.joined(separator: "; ")
        if violations.count > Self.summarized {
            summary += "; and \(violations.count - Self.summarized) more (see the details)"
        }
        var details = ErrorDetails()
        var badRequest = BadRequest()
        badRequest.fieldViolations = violations
        details.badRequest = badRequest
        return RPCError(.invalidArgument, "invalid request: \(summary)", details: (try? details.serializedBytes()) ?? [])
    }

    /// Throws ``error`` when any violation was recorded.
    public func throwIfAny() throws(RPCError) {
        if !violations.isEmpty { throw error }
    }
}
