import Foundation
import SoukAuth
import SoukContracts
import SoukServiceKit
import SoukWire

/// What makes a payment request acceptable. Every violation is reported at once, under its
/// field's path (`card.exp_month`); no message ever quotes the card number or the CVC.
public enum PaymentRules {
    /// The metadata key of the idempotency key (the HTTP header `Idempotency-Key`).
    public static let idempotencyKeyMetadata = "idempotency-key"
    public static let keyLength = 1...255
    public static let numberLength = 12...19

    /// The violations of `request` and of its idempotency key `key`, as of `now`.
    public static func check(_ request: CreatePaymentRequest, key: String?, now: Date = Date()) -> FieldViolations {
        var violations = FieldViolations()
        if let problem = keyProblem(key) { violations.add(idempotencyKeyMetadata, problem) }
        _ = violations.id(request.orderId, field: "order_id", what: "the id of an order")
        if request.amount < 0 { violations.add("amount", "must not be negative, found \(request.amount)") }
        violations.currency(request.currency)
        guard let card = request.card else {
            violations.add("card", "is required: number, exp_month, exp_year and cvc")
            return violations
        }
        if let problem = numberProblem(card.number) { violations.add("card.number", problem) }
        let calendar = Calendar(identifier: .gregorian)
        var utc = calendar
        utc.timeZone = TimeZone(identifier: "UTC")!
        let (year, month) = (utc.component(.year, from: now), utc.component(.month, from: now))
        let monthValid = (1...12).contains(card.expMonth)
        if !monthValid { violations.add("card.exp_month", "must be 1 to 12, found \(card.expMonth)") }
        if !(1000...9999).contains(card.expYear) {
            violations.add("card.exp_year", "must be a four-digit year such as \(year + 3), found \(card.expYear)")
        } else if Int(card.expYear) < year || (monthValid && Int(card.expYear) == year && Int(card.expMonth) < month) {
            violations.add("card.exp_year", "the card expired (\(card.expMonth)/\(card.expYear) is before \(month)/\(year))")
        }
        let cvc = Array(card.cvc.utf8)
        if cvc.isEmpty {
            violations.add("card.cvc", "is required: the 3 or 4 digits on the card")
        } else if !(3...4).contains(cvc.count) || !cvc.allSatisfy(isDigit) {
            violations.add("card.cvc", "must be 3 or 4 digits")
        }
        return violations
    }

    /// 1 to 255 printable ASCII characters.
    static func keyProblem(_ key: String?) -> String? {
        guard let key, !key.isEmpty else {
            return "is required: send metadata idempotency-key (the HTTP header Idempotency-Key), e.g. a UUID you make per payment"
        }
        let bytes = Array(key.utf8)
        guard keyLength.contains(bytes.count) else { return "must be at most 255 characters, found \(bytes.count)" }
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) }) else { return "may hold only printable ASCII characters" }
        return nil
    }

    /// 12 to 19 ASCII digits passing the Luhn check. The message never repeats the number.
    static func numberProblem(_ number: String) -> String? {
        let digits = Array(number.utf8)
        if digits.isEmpty { return "is required: the card number, digits only" }
        guard digits.allSatisfy(isDigit) else { return "must hold digits only (no spaces or dashes)" }
        guard numberLength.contains(digits.count) else { return "must be 12 to 19 digits, found \(digits.count)" }
        guard luhnValid(digits) else { return "is not a valid card number (its check digit is wrong)" }
        return nil
    }

    /// The Luhn (mod 10) check over ASCII digits.
    static func luhnValid(_ digits: [UInt8]) -> Bool {
        var sum = 0
        for (index, byte) in digits.reversed().enumerated() {
            var digit = Int(byte - 0x30)
            if index % 2 == 1 {
                digit *= 2
                if digit > 9 { digit -= 9 }
            }
            sum += digit
        }
        return sum % 10 == 0
    }

    /// The card's brand from its number's prefix (IIN ranges), lower case; `unknown` when none matches.
    public static func brand(of number: String) -> String {
        let digits = Array(number.utf8.prefix(6)).map { Int($0) - 0x30 }
        func prefix(_ count: Int) -> Int { digits.prefix(count).reduce(0) { $0 * 10 + $1 } }
        guard digits.count >= 4 else { return "unknown" }
        switch (prefix(1), prefix(2), prefix(3), prefix(4)) {
        case (4, _, _, _): return "visa"
        case (_, 51...55, _, _), (_, _, _, 2221...2720): return "mastercard"
        case (_, 34, _, _), (_, 37, _, _): return "amex"
        case (_, _, _, 6011), (_, 65, _, _), (_, _, 644...649, _): return "discover"
        case (_, 36, _, _), (_, 38, _, _), (_, 39, _, _), (_, _, 300...305, _): return "diners"
        case (_, _, _, 3528...3589): return "jcb"
        case (_, 62, _, _): return "unionpay"
        default: return "unknown"
        }
    }

    /// The last four digits, the only ones Souk keeps.
    public static func last4(of number: String) -> String { String(number.suffix(4)) }

    /// The keyed fingerprint (HMAC) of the parsed request, stored with its idempotency key:
    /// two requests are the same request when their fields are, whatever their encoding on
    /// the wire. The CVC is left out: nothing derived from it may be kept after the charge
    /// (PCI DSS 3.3.1), so a retry that differs only in its CVC is the same request.
    public static func fingerprint(of request: CreatePaymentRequest, with authenticator: MessageAuthenticator) -> [UInt8] {
        let card = request.card ?? Card()
        let orderID = UUID(text: request.orderId)?.lowercasedText ?? request.orderId
        let canonical = "v1|\(orderID)|\(request.amount)|\(request.currency)|\(card.number)|\(card.expMonth)|\(card.expYear)"
        return authenticator.tag(Array(canonical.utf8))
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}
