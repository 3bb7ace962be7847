import Foundation
import Logging
import ServiceLifecycle
import SoukContracts
import SoukPostgres
import SoukRPCCore
import SoukServiceKit
import Synchronization

/// Delivers the payments outbox to the orders service: MarkOrderPaid for a succeeded payment,
/// MarkOrderRefunded for a refund. Each row is delivered at least once (both rpcs are
/// idempotent by payment id), retried with capped exponential backoff while orders is down
/// or slow, across restarts (the rows are in the database). Several payments processes may
/// relay one outbox: a row is leased to one of them at a time, and leasing skips the rows
/// another holds instead of waiting for them.
///
/// A succeeded payment whose order orders refuses for good (it was cancelled before the
/// payment reached it) is refunded: the cancel won, and the customer is not left charged for
/// an order that will not be paid.
public final class OutboxRelay: Service, Sendable {
    public struct Configuration: Sendable {
        /// How long a process owns a row it delivers; a row whose owner died is retried after it.
        public var lease: Duration = .seconds(30)
        /// The longest one delivery may take (well under the lease).
        public var callTimeout: Duration = .seconds(5)
        /// The first retry's delay, doubled on each attempt up to `maxBackoff` (with jitter).
        public var firstBackoff: Duration = .milliseconds(200)
        public var maxBackoff: Duration = .seconds(30)
        /// How often the relay looks for due rows when nothing wakes it (another process's rows).
        public var pollInterval: Duration = .seconds(1)
        /// Rows leased and delivered at once.
        public var batchSize = 32
        /// Idempotency keys, and outbox rows once settled, are kept this long, then purged.
        public var keyRetention: Duration = .seconds(24 * 3600)
        /// How often what is past its retention is purged.
        public var purgeInterval: Duration = .seconds(300)

        public init() {}
    }

    /// The outcome of one delivery.
    enum Delivery: Sendable {
        case delivered
        /// Orders refused the message for good; for a payment, the charge was refunded.
        case refused(RPCError, payment: PaymentRecord?)
        case retryLater(RPCError)
    }

    let repository: PaymentRepository
    private let orders: OrdersService.Client
    private let credentials: OutgoingCredentials
    private let processor: any PaymentProcessor
    let configuration: Configuration
    private let logger: Logger
    private let wakeup = Wakeup()
    private let delivered = Atomic<Int>(0)

    /// How many rows this relay (this process) has delivered, inline ones included.
    public var deliveredCount: Int { delivered.load(ordering: .relaxed) }

    public init(database: PostgresPool, orders: OrdersService.Client, credentials: OutgoingCredentials,
                processor: any PaymentProcessor, configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "souk.payments.outbox")) {
        self.repository = PaymentRepository(database: database)
        self.orders = orders
        self.credentials = credentials
        self.processor = processor
        self.configuration = configuration
        self.logger = logger
    }

    /// Looks for due rows now rather than at the next poll (a row was just committed).
    public func wake() { wakeup.signal() }

    /// Relays until graceful shutdown: after each pass it sleeps until woken, the next row
    /// falls due, or the poll interval passes, whichever comes first.
    public func run() async throws {
        var lastPurge = ContinuousClock.Instant.now - configuration.purgeInterval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait = configuration.pollInterval
            do {
                try await relayDue()
                if ContinuousClock.now - lastPurge >= configuration.purgeInterval {
                    lastPurge = .now
                    try await purge()
                }
                if let due = try await repository.secondsUntilNextDue() {
                    // At least a few milliseconds: a due row another process holds locked is
                    // skipped, not waited for, and must not make this loop spin.
                    wait = min(wait, .milliseconds(Int64(max(0.02, due) * 1000)))
                }
            } catch {
                logger.warning("the outbox relay could not reach its database; trying again",
                               metadata: ["error": "\(String(describing: type(of: error)))"])
            }
            await withGracefulShutdownHandler {
                await wakeup.wait(upTo: wait)
            } onGracefulShutdown: { [wakeup] in
                wakeup.signal()
            }
        }
    }

    /// Leases the due rows and delivers them, batch after batch, until none is due.
    func relayDue() async throws {
        while true {
            let due = try await repository.leaseDue(limit: configuration.batchSize, lease: configuration.lease.seconds)
            if due.isEmpty { return }
            await withTaskGroup(of: Void.self) { group in
                for entry in due { group.addTask { _ = await self.deliver(entry) } }
            }
            if due.count < configuration.batchSize { return }
        }
    }

    /// Deletes the idempotency keys and settled outbox rows past their retention.
    public func purge() async throws {
        let purged = try await repository.purge(olderThan: configuration.keyRetention.seconds)
        if purged > 0 { logger.info("purged idempotency keys past their retention", metadata: ["count": "\(purged)"]) }
    }

    /// Delivers `entry`, which this process holds the lease of, and records the outcome.
    func deliver(_ entry: OutboxEntry) async -> Delivery {
        let outcome: Delivery
        do {
            let options = CallOptions(timeout: configuration.callTimeout, metadata: credentials.metadata(for: "souk-orders"))
            switch entry.kind {
            case .markPaid:
                var request = MarkOrderPaidRequest()
                request.orderId = entry.orderID.lowercasedText
                request.paymentId = entry.paymentID.lowercasedText
                request.amount = entry.amount
                request.currency = entry.currency
                _ = try await orders.markOrderPaid(request, options: options)
            case .markRefunded:
                var request = MarkOrderRefundedRequest()
                request.orderId = entry.orderID.lowercasedText
                request.paymentId = entry.paymentID.lowercasedText
                _ = try await orders.markOrderRefunded(request, options: options)
            }
            outcome = .delivered
        } catch let error as RPCError where Self.isFinal(error.code) {
            outcome = .refused(error, payment: nil)
        } catch let error as RPCError {
            outcome = .retryLater(error)
        } catch {
            outcome = .retryLater(RPCError(.unavailable, "the orders service could not be called"))
        }
        return await record(outcome, of: entry)
    }

    private func record(_ outcome: Delivery, of entry: OutboxEntry) async -> Delivery {
        let metadata: Logger.Metadata = ["outbox_id": "\(entry.id)", "kind": "\(entry.kind.rawValue)",
                                         "payment_id": "\(entry.paymentID.lowercasedText)",
                                         "order_id": "\(entry.orderID.lowercasedText)", "attempt": "\(entry.attempts)"]
        do {
            switch outcome {
            case .delivered:
                try await repository.settle(entry, outcome: "delivered")
                delivered.add(1, ordering: .relaxed)
                return outcome
            case .retryLater(let error):
                let delay = backoff(attempt: Int(entry.attempts))
                logger.notice("the orders service did not take an outbox message; retrying later",
                              metadata: metadata.merging(["code": "\(error.code.name)", "retry_in_ms": "\(Int(delay * 1000))"]) { $1 })
                try await repository.retryLater(entry, delay: delay, error: "\(error.code.name): \(error.message)")
                return outcome
            case .refused(let error, _):
                let why = "refused: \(error.code.name): \(error.message)"
                guard entry.kind == .markPaid else {
                    logger.error("the orders service refused a refund notice for good", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
                    try await repository.settle(entry, outcome: why)
                    return outcome
                }
                logger.warning("the orders service refused a payment for good; refunding it",
                               metadata: metadata.merging(["reason": "\(why)"]) { $1 })
                let payment = try await repository.compensate(entry, outcome: why + "; the charge was refunded") { payment in
                    do throws(ProcessorError) {
                        try await processor.refund(reference: payment.id, amount: payment.amount, currency: payment.currency)
                    } catch {
                        throw RPCError(.unavailable, "the card network could not refund: \(error.message)")
                    }
                }
                return .refused(error, payment: payment)
            }
        } catch {
            // The lease runs out and the row is tried again.
            logger.warning("an outbox outcome could not be recorded; the row will be retried after its lease",
                           metadata: metadata.merging(["error": "\(String(describing: error))"]) { $1 })
            return .retryLater(RPCError(.unavailable, "the outcome could not be recorded"))
        }
    }

    /// Seconds before attempt `attempt + 1`: the first backoff doubled per attempt, capped,
    /// with ±25 % jitter so that rows failed together are not retried together.
    func backoff(attempt: Int) -> Double {
        let first = configuration.firstBackoff.seconds
        let capped = min(configuration.maxBackoff.seconds, first * pow(2, Double(max(0, min(attempt - 1, 30)))))
        return capped * Double.random(in: 0.75...1.25)
    }

    /// Codes that no retry will change: orders has decided.
    static func isFinal(_ code: RPCStatusCode) -> Bool {
        code == .failedPrecondition || code == .notFound || code == .invalidArgument
    }
}

/// A wake-up call for one sleeper: `signal` ends the current `wait`, or the next one at once
/// when nobody waits.
final class Wakeup: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled, when `timeout` passes, or when the task is cancelled.
    func wait(upTo timeout: Duration) async {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self?.signal() }
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
        timer.cancel()
    }
}

extension Duration {
    /// The duration in seconds, with its fraction.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
