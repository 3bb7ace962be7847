import Foundation
import SoukContracts

/// A charge to make: `amount` minor units of `currency` on `card`. `reference` is the
/// payment's id, the same on every attempt of one payment, so that a processor seeing it
/// twice (a payment taken over after its first process died) charges once.
public struct Charge: Sendable {
    public var reference: UUID
    public var amount: Int64
    public var currency: String
    public var card: Card

    public init(reference: UUID, amount: Int64, currency: String, card: Card) {
        self.reference = reference
        self.amount = amount
        self.currency = currency
        self.card = card
    }
}

/// What the card network said.
public enum ChargeOutcome: Sendable, Equatable {
    case approved
    /// Declined, with a snake_case reason (`card_declined`, `insufficient_funds`, ...).
    case declined(reason: String)
}

/// The card network failed to process a request: nothing was charged or refunded, and the
/// same request may be tried again. `message` never holds card data.
public struct ProcessorError: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Where cards are charged and refunded.
public protocol PaymentProcessor: Sendable {
    /// Charges `charge`, or says why the card was declined.
    func charge(_ charge: Charge) async throws(ProcessorError) -> ChargeOutcome
    /// Refunds in full the approved charge `reference`; refunding one twice refunds it once.
    func refund(reference: UUID, amount: Int64, currency: String) async throws(ProcessorError)
}

/// A card network simulated in process, deterministic by card number, as payment providers'
/// test modes are: 4000000000000002 is declined (`card_declined`), 4000000000009995
/// (`insufficient_funds`), 4000000000000069 (`expired_card`); 4000000000000119 fails with a
/// processing error; every other (Luhn-valid) number, 4242424242424242 among them, is approved.
public struct SimulatedCardNetwork: PaymentProcessor {
    public static let declines = [
        "4000000000000002": "card_declined",
        "4000000000009995": "insufficient_funds",
        "4000000000000069": "expired_card",
    ]
    public static let processingError = "4000000000000119"

    public init() {}

    public func charge(_ charge: Charge) async throws(ProcessorError) -> ChargeOutcome {
        if charge.card.number == Self.processingError {
            throw ProcessorError("the card network could not process the charge")
        }
        if let reason = Self.declines[charge.card.number] { return .declined(reason: reason) }
        return .approved
    }

    public func refund(reference: UUID, amount: Int64, currency: String) async throws(ProcessorError) {}
}
