import Foundation
import SoukContracts
import SoukRPCCore
import SoukWire
import SoukTestSupport
import Testing

@Suite("Listing orders: newest first, keyset pages, tamper-evident page tokens")
struct ListOrdersTests {
    typealias H = OrdersTestHarness

    static func list(_ h: H, _ token: String, size: Int32 = 0, page: String = "") async throws -> ListOrdersResponse {
        var request = ListOrdersRequest()
        request.pageSize = size
        request.pageToken = page
        return try await h.orders.listOrders(request, options: bearer(token))
    }

    /// Places `count` orders for `token`'s user, 8 at a time.
    static func place(_ count: Int, _ h: H, _ token: String) async throws -> [Order] {
        try await withThrowingTaskGroup(of: [Order].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var placed: [Order] = []
                    for _ in stride(from: worker, to: count, by: 8) { placed.append(try await h.placeOrder(token)) }
                    return placed
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    @Test("250 orders come back newest first over pages of 100, none twice, none skipped, while new ones arrive")
    func pagesUnderInserts() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let placed = try await Self.place(250, h, token)
            var seen: [Order] = []
            var page = ""
            var pages = 0
            repeat {
                let answer = try await Self.list(h, token, size: 100, page: page)
                seen += answer.orders
                page = answer.nextPageToken
                pages += 1
                // New orders between pages sort before the cursor: they never enter later pages.
                _ = try await Self.place(3, h, token)
            } while !page.isEmpty && pages < 10
            #expect(pages == 3)
            #expect(seen.count == 250)
            #expect(Set(seen.map(\.id)) == Set(placed.map(\.id)))
            let keys = seen.map { ($0.createdAt!.seconds, $0.createdAt!.nanos, $0.id) }
            #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 > $1 }, "newest first, ties broken by id")
        }
    }

    @Test("the default page is 20, and pageSize must be 1 to 100")
    func pageSizes() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            _ = try await Self.place(21, h, token)
            let first = try await Self.list(h, token)
            #expect(first.orders.count == 20 && !first.nextPageToken.isEmpty)
            let rest = try await Self.list(h, token, page: first.nextPageToken)
            #expect(rest.orders.count == 1 && rest.nextPageToken.isEmpty)
            for size: Int32 in [-1, 101] {
                let error = try await rpcError { _ = try await Self.list(h, token, size: size) }
                #expect(error.code == .invalidArgument && error.message.contains("page_size"))
            }
            #expect(try await Self.list(h, token, size: 100).orders.count == 21)
        }
    }

    @Test("a forged, altered or foreign page token is INVALID_ARGUMENT")
    func tamperEvidentTokens() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (_, grace) = try await h.signUp("grace")
            _ = try await Self.place(3, h, ada)
            let token = try await Self.list(h, ada, size: 1).nextPageToken
            #expect(!token.isEmpty)
            var altered = Array(token)
            altered[altered.count / 2] = altered[altered.count / 2] == "A" ? "B" : "A"
            for bad in ["forged", String(altered), token + "A", "", String(token.dropLast())] where !bad.isEmpty {
                let error = try await rpcError { _ = try await Self.list(h, ada, page: bad) }
                #expect(error.code == .invalidArgument, "\(bad)")
                #expect(try ErrorDetails(serializedBytes: error.details).badRequest?.fieldViolations.map(\.field) == ["page_token"])
            }
            let foreign = try await rpcError { _ = try await Self.list(h, grace, page: token) }
            #expect(foreign.code == .invalidArgument && foreign.message.contains("another listing"))
            #expect(try await Self.list(h, ada, size: 1, page: token).orders.count == 1)
        }
    }
}
