import SoukContracts
import SoukWire

/// What makes an email, a password and a name acceptable. Each check returns a
/// sentence for the caller, or nil when the value is fine.
public enum UserRules {
    public static let passwordLength = 10...128
    public static let fullNameLength = 1...200
    static let maxEmailLength = 254
    static let maxLocalPartLength = 64

    /// Practical RFC 5321 syntax: `local@domain`, an ASCII dot-atom local part, and a
    /// domain of at least two DNS labels (IDNs in their `xn--` form).
    public static func emailProblem(_ email: String) -> String? {
        if email.isEmpty { return "is required" }
        if email.utf8.count > maxEmailLength { return "must be at most \(maxEmailLength) characters" }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "must be an address like name@example.com, with exactly one @" }
        let (local, domain) = (parts[0], parts[1])
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-".utf8)
        if local.isEmpty || local.utf8.count > maxLocalPartLength {
            return "must have 1 to \(maxLocalPartLength) characters before the @"
        }
        let localAtoms = local.split(separator: ".", omittingEmptySubsequences: false)
        if localAtoms.contains(where: { $0.isEmpty || !$0.utf8.allSatisfy(atext.contains) }) {
            return "has a character or a dot that is not allowed before the @"
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count < 2 { return "must have a domain like example.com after the @" }
        let labelCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-".utf8)
        for label in labels {
            if label.isEmpty || label.utf8.count > 63 || !label.utf8.allSatisfy(labelCharacters.contains)
                || label.hasPrefix("-") || label.hasSuffix("-") {
                return "has a domain that is not a valid host name"
            }
        }
        if labels.last!.allSatisfy(\.isNumber) { return "has a domain that is not a valid host name" }
        return nil
    }

    /// 10 to 128 characters, counted as a person would (grapheme clusters).
    public static func passwordProblem(_ password: String) -> String? {
        if password.isEmpty { return "is required" }
        if !passwordLength.contains(password.count) {
            return "must be \(passwordLength.lowerBound) to \(passwordLength.upperBound) characters long"
        }
        return nil
    }

    /// 1 to 200 characters, none of them a control character.
    public static func fullNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is required" }
        if !fullNameLength.contains(name.count) {
            return "must be \(fullNameLength.lowerBound) to \(fullNameLength.upperBound) characters long"
        }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters such as tabs or line breaks"
        }
        if name.allSatisfy(\.isWhitespace) { return "must not be only spaces" }
        return nil
    }

    /// The key an email is unique, looked up and throttled under: its ASCII letters
    /// lower-cased and nothing else changed. The address itself is stored as given.
    ///
    /// Only ASCII is folded: valid addresses are ASCII (see ``emailProblem(_:)``), and a
    /// wider folding (Swift's or PostgreSQL's `lower()`, which depends on the locale)
    /// would make two spellings of one account, e.g. with U+0130 for `i`.
    public static func emailKey(_ email: String) -> String {
        String(decoding: email.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Every problem with a CreateUser request at once.
    public static func violations(of request: CreateUserRequest) -> FieldViolations {
        var violations = FieldViolations()
        if let problem = emailProblem(request.email) { violations.add("email", problem) }
        if let problem = passwordProblem(request.password) { violations.add("password", problem) }
        if let problem = fullNameProblem(request.fullName) { violations.add("full_name", problem) }
        return violations
    }
}
