import SoukRPCCore
import Testing
@testable import SoukGateway

@Suite("The HTTP status of each gRPC code, as grpc-gateway maps them")
struct StatusMappingTests {
    @Test("every code has its status", arguments: [
        (RPCStatusCode.ok, 200), (.cancelled, 499), (.unknown, 500), (.invalidArgument, 400), (.deadlineExceeded, 504),
        (.notFound, 404), (.alreadyExists, 409), (.permissionDenied, 403), (.resourceExhausted, 429),
        (.failedPrecondition, 400), (.aborted, 409), (.outOfRange, 400), (.unimplemented, 501), (.internal, 500),
        (.unavailable, 503), (.dataLoss, 500), (.unauthenticated, 401),
    ])
    func mapping(code: RPCStatusCode, status: Int) {
        #expect(GatewayError.httpStatus(code) == status)
    }

    @Test("the error body names the code by number and name, and field paths in JSON names")
    func body() throws {
        var error = GatewayError(RPCError(.resourceExhausted, "slow down", metadata: Metadata(["retry-after": "3"])))
        #expect(error.extraHeaders[.retryAfter] == "3")
        error = GatewayError(.invalidArgument, "bad", violations: [(GatewayError.jsonPath("items[3].unit_price"), "must be positive")])
        #expect(String(decoding: error.body, as: UTF8.self)
            == #"{"code":3,"status":"INVALID_ARGUMENT","message":"bad","details":[{"field":"items[3].unitPrice","description":"must be positive"}]}"#)
        #expect(GatewayError.jsonPath("card.exp_month") == "card.expMonth")
        #expect(GatewayError.jsonPath("idempotency-key") == "idempotency-key")
    }
}
