import Foundation
import SoukAuth
import SoukContracts
import SoukRPC
import SoukRPCCore
import SoukTestSupport
import Testing

/// `souk payments` as its own process (the binary this package builds), with the real orders
/// and users services over TCP: what only a real process shows, a SIGKILL and a restart.
@Suite("souk payments, as a process")
struct PaymentsProcessTests {
    typealias H = PaymentsTestHarness

    /// The `souk` executable beside the test bundle (`swift build --build-tests` builds both).
    static var soukBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("souk")
    }

    /// A running `souk payments`, its output going to a file.
    final class PaymentsProcess {
        let process = Process()
        let output: URL
        var port = 0

        init(h: H, folder: URL) throws {
            let keys = folder.appendingPathComponent("user-keys")
            try h.userKey.verificationKey.fileLine.write(to: keys, atomically: true, encoding: .utf8)
            let serviceKey = folder.appendingPathComponent("service-key")
            if !FileManager.default.fileExists(atPath: serviceKey.path) {
                FileManager.default.createFile(atPath: serviceKey.path, contents: Data(h.serviceKey.fileContents.utf8),
                                               attributes: [.posixPermissions: 0o600])
            }
            output = folder.appendingPathComponent("payments-\(UUID().uuidString.prefix(6)).log")
            FileManager.default.createFile(atPath: output.path, contents: nil)
            process.executableURL = PaymentsProcessTests.soukBinary
            process.arguments = ["payments", "--port", "0", "--no-admin", "--no-migrate", "--database-url", h.url,
                                 "--orders-address", "127.0.0.1:\(h.ordersServer.port)",
                                 "--users-public-keys-file", keys.path, "--service-signing-key-file", serviceKey.path,
                                 "--outbox-lease-seconds", "3"]
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

        /// Waits for the "listening" line and reads the port from it.
        func awaitListening() async throws {
            let end = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < end {
                if let line = log.split(separator: "\n").first(where: { $0.contains("payments service listening") }),
                   let port = line.split(separator: ":").last.flatMap({ Int($0.filter(\.isNumber)) }) {
                    self.port = port
                    return
                }
                guard process.isRunning else { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("souk payments did not start listening:\n\(log)")
            throw CancellationError()
        }

        func kill() {
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    @Test("killed with SIGKILL between the commit and the delivery: the restarted process delivers once the lease runs out")
    func sigkill() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.soukBinary.path) else {
            Issue.record("\(Self.soukBinary.path) is missing: build it first (swift build --build-tests)")
            return
        }
        try await H.with(relaying: false) { h in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("souk-payments-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)

            let first = try PaymentsProcess(h: h, folder: folder)
            defer { first.kill() }
            try await first.awaitListening()
            let client = RPCClient(host: "127.0.0.1", port: first.port)
            // MarkOrderPaid hangs: the payment commits, its delivery starts, and the process is
            // killed before it ends.
            h.ordersSaw.delayMarkPaid(.seconds(30))
            let paying = Task {
                try await PaymentsService.Client(transport: client).createPayment(H.request(order), options: H.options(token))
            }
            #expect(try await h.awaitCount("SELECT count(*) FROM payment_outbox WHERE settled_at IS NULL", 1) == 1)
            first.kill()
            #expect(first.process.terminationReason == .uncaughtSignal)
            let lost = try await rpcError { _ = try await paying.value }
            #expect(lost.code == .unavailable)
            await client.close()
            #expect(try await h.count("SELECT count(*) FROM payments WHERE status = 'succeeded'") == 1)
            #expect(try await h.count("SELECT count(*) FROM payment_outbox WHERE settled_at IS NULL AND lease_until > now()") == 1)
            #expect(try await h.order(order.id, token: token).status == .pending)

            h.ordersSaw.delayMarkPaid(.milliseconds(20))
            let second = try PaymentsProcess(h: h, folder: folder)
            defer { second.kill() }
            try await second.awaitListening()
            #expect(try await h.awaitOrder(order.id, token: token, status: .paid).status == .paid)
            #expect(try await h.awaitCount("SELECT count(*) FROM payment_outbox WHERE outcome = 'delivered'", 1) == 1)
            // SIGTERM stops it gracefully.
            second.process.terminate()
            second.process.waitUntilExit()
            #expect(second.process.terminationStatus == 0, "\(second.log)")
            for log in [first.log, second.log] {
                #expect(!log.contains(H.visa), "a log line holds the card number")
            }
        }
    }
}
