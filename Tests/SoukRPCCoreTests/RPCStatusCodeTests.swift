import SoukRPCCore
import Testing

@Suite("Status codes")
struct RPCStatusCodeTests {
    static let canonical: [(RPCStatusCode, Int32, String)] = [
        (.ok, 0, "OK"),
        (.cancelled, 1, "CANCELLED"),
        (.unknown, 2, "UNKNOWN"),
        (.invalidArgument, 3, "INVALID_ARGUMENT"),
        (.deadlineExceeded, 4, "DEADLINE_EXCEEDED"),
        (.notFound, 5, "NOT_FOUND"),
        (.alreadyExists, 6, "ALREADY_EXISTS"),
        (.permissionDenied, 7, "PERMISSION_DENIED"),
        (.resourceExhausted, 8, "RESOURCE_EXHAUSTED"),
        (.failedPrecondition, 9, "FAILED_PRECONDITION"),
        (.aborted, 10, "ABORTED"),
        (.outOfRange, 11, "OUT_OF_RANGE"),
        (.unimplemented, 12, "UNIMPLEMENTED"),
        (.internal, 13, "INTERNAL"),
        (.unavailable, 14, "UNAVAILABLE"),
        (.dataLoss, 15, "DATA_LOSS"),
        (.unauthenticated, 16, "UNAUTHENTICATED"),
    ]

    @Test("there are exactly gRPC's 17 canonical codes, numbered 0 to 16")
    func seventeenCodes() {
        #expect(RPCStatusCode.allCases.count == 17)
        #expect(RPCStatusCode.allCases.map(\.rawValue) == Array(0...16))
        #expect(Self.canonical.map(\.0) == RPCStatusCode.allCases)
    }

    @Test("each code has gRPC's number and upper-case name", arguments: canonical)
    func numberAndName(code: RPCStatusCode, number: Int32, name: String) {
        #expect(code.rawValue == number)
        #expect(code.name == name)
        #expect(code.description == name)
        #expect(RPCStatusCode(wireValue: number) == code)
    }

    @Test("a number off the wire outside 0–16 is UNKNOWN", arguments: [Int32(-1), 17, 100, .max, .min])
    func outOfRangeIsUnknown(number: Int32) {
        #expect(RPCStatusCode(wireValue: number) == .unknown)
    }

    @Test("an RPCError describes itself by code name and message")
    func errorDescription() {
        #expect(RPCError(.notFound, "no order o-1").description == "NOT_FOUND: no order o-1")
        #expect(String(describing: RPCError(.internal, "x")) == "INTERNAL: x")
    }

    @Test("RPCErrors are equal when code, message, details and metadata all are")
    func errorEquality() {
        let base = RPCError(.aborted, "retry", details: [1], metadata: Metadata(["a": "1"]))
        #expect(base == RPCError(.aborted, "retry", details: [1], metadata: Metadata(["A": "1"])))
        #expect(base != RPCError(.unavailable, "retry", details: [1], metadata: Metadata(["a": "1"])))
        #expect(base != RPCError(.aborted, "later", details: [1], metadata: Metadata(["a": "1"])))
        #expect(base != RPCError(.aborted, "retry", details: [2], metadata: Metadata(["a": "1"])))
        #expect(base != RPCError(.aborted, "retry", details: [1]))
    }
}
