import SoukContracts
import SoukProtobuf
import SoukUsers
import SoukWire
import Testing

@Suite("What the users service accepts as an email, a password and a name")
struct UserRulesTests {
    @Test("well-formed addresses are accepted", arguments: [
        "a@example.com", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "x@xn--bcher-kva.example",
        "UPPER@EXAMPLE.COM", "a_b-c@a-b.io",
    ])
    func validEmails(email: String) {
        #expect(UserRules.emailProblem(email) == nil)
    }

    @Test("malformed addresses are refused with a reason", arguments: [
        "", "plain", "@example.com", "a@", "a@b", "a@@example.com", "a@b@example.com", "a..b@example.com",
        ".a@example.com", "a.@example.com", "a b@example.com", "a@exa mple.com", "a@-example.com", "a@example-.com",
        "a@example..com", "a@127.0.0.1", "ünï@example.com", "a@example.com\n",
        String(repeating: "a", count: 65) + "@example.com", "a@" + String(repeating: "b", count: 250) + ".com",
    ])
    func invalidEmails(email: String) {
        #expect(UserRules.emailProblem(email) != nil)
    }

    @Test("a password has 10 to 128 characters, counted as a person counts them")
    func passwords() {
        #expect(UserRules.passwordProblem("123456789") != nil)
        #expect(UserRules.passwordProblem("1234567890") == nil)
        #expect(UserRules.passwordProblem(String(repeating: "x", count: 128)) == nil)
        #expect(UserRules.passwordProblem(String(repeating: "x", count: 129)) != nil)
        #expect(UserRules.passwordProblem(String(repeating: "👩‍👩‍👧", count: 10)) == nil)
        #expect(UserRules.passwordProblem("") == "is required")
        // 60 characters, but 1,080 bytes: more than a hash is made of.
        #expect(UserRules.passwordProblem(String(repeating: "👩‍👩‍👧", count: 60)) == "must be at most 1024 bytes long in UTF-8")
    }

    @Test("a name is counted in code points, as PostgreSQL's length() counts it", arguments: [
        (String(repeating: "e\u{301}", count: 100), true),   // 100 characters, 200 code points
        (String(repeating: "e\u{301}", count: 101), false),  // 101 characters, 202 code points
        (String(repeating: "é", count: 200), true),
    ])
    func nameLengthInCodePoints(name: String, accepted: Bool) {
        #expect((UserRules.fullNameProblem(name) == nil) == accepted)
    }

    @Test("a name of only invisible characters, or one that reverses its text, is refused", arguments: [
        "\u{200B}", "\u{200B}\u{200B} \u{200B}", "\u{3164}", "\u{3164}\u{115F}", "\u{FEFF}",
        "Ada \u{202E}ecalevoL", "\u{2067}Ada\u{2069}",
    ])
    func invisibleOrReversedNames(name: String) {
        #expect(UserRules.fullNameProblem(name) != nil)
    }

    @Test("a full name has 1 to 200 characters and no control characters")
    func names() {
        #expect(UserRules.fullNameProblem("Zoë Ångström-李") == nil)
        #expect(UserRules.fullNameProblem("") == "is required")
        #expect(UserRules.fullNameProblem(String(repeating: "n", count: 201)) != nil)
        #expect(UserRules.fullNameProblem("tab\there") != nil)
        #expect(UserRules.fullNameProblem("line\nbreak") != nil)
        #expect(UserRules.fullNameProblem("   ") != nil)
    }

    @Test("every invalid field of a CreateUser request is reported at once, in the details too")
    func allViolationsAtOnce() throws {
        var request = CreateUserRequest()
        request.email = "nope"
        request.password = "short"
        request.fullName = "bad\u{7}name"
        let violations = UserRules.violations(of: request)
        let error = violations.error
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("email"))
        #expect(error.message.contains("password"))
        #expect(error.message.contains("full_name"))
        let details = try ErrorDetails(serializedBytes: error.details)
        #expect(details.badRequest?.fieldViolations.map(\.field) == ["email", "password", "full_name"])
    }

    @Test("one invalid field alone is reported alone")
    func oneViolation() {
        var request = CreateUserRequest()
        request.email = "a@example.com"
        request.password = "correct horse"
        request.fullName = ""
        #expect(UserRules.violations(of: request).violations.map(\.field) == ["full_name"])
    }
}
