import SoukAuth
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

    /// 10 to 128 characters, counted as a person would (grapheme clusters), and at most
    /// ``PasswordHasher/maxPasswordBytes`` bytes of UTF-8, the most a hash is made of.
    /// Sign-up and sign-in apply this one rule, so that no account has a password it
    /// could never sign in with.
    public static func passwordProblem(_ password: String) -> String? {
        if password.isEmpty { return "is required" }
        if !passwordLength.contains(password.count) {
            return "must be \(passwordLength.lowerBound) to \(passwordLength.upperBound) characters long"
        }
        if password.utf8.count > PasswordHasher.maxPasswordBytes {
            return "must be at most \(PasswordHasher.maxPasswordBytes) bytes long in UTF-8"
        }
        return nil
    }

    /// 1 to 200 characters, counted as Unicode code points, as the database's CHECK
    /// counts them (so that nothing valid here fails there, after the costly hash);
    /// no control character; no bidirectional override or isolate (U+202A–U+202E,
    /// U+2066–U+2069), which would make the name display as something else; and not
    /// only spaces or invisible characters (U+200B, U+3164 and the like).
    public static func fullNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is required" }
        let scalars = name.unicodeScalars
        if !fullNameLength.contains(scalars.count) {
            return "must be \(fullNameLength.lowerBound) to \(fullNameLength.upperBound) characters long (Unicode code points)"
        }
        if scalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters such as tabs or line breaks"
        }
        if scalars.contains(where: { (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) }) {
            return "must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069)"
        }
        if scalars.allSatisfy({ $0.properties.isWhitespace || $0.properties.isDefaultIgnorableCodePoint }) {
            return "must contain a visible character, not only spaces or invisible characters"
        }
        return nil
    }

    /// The email as it is stored and looked up: surrounding spaces (and other whitespace) removed,
    /// nothing else changed.
    public static func trimmed(email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines)
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
