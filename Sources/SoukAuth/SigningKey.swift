import CSodium

/// An Ed25519 key that signs tokens, with the id (`kid`) verifiers look it up by.
public struct SigningKey: Sendable {
    public let id: String
    /// libsodium's 64-byte secret key (seed followed by the public key).
    let secretKey: [UInt8]
    public let verificationKey: VerificationKey

    /// The key derived from a 32-byte seed.
    public init(id: String, seed: [UInt8]) throws(AuthError) {
        Sodium.ensureReady()
        guard !id.isEmpty, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw AuthError.invalidKey("a key id must be printable ASCII without spaces")
        }
        guard seed.count == Int(crypto_sign_SEEDBYTES) else {
            throw AuthError.invalidKey("key \(id): a seed is \(crypto_sign_SEEDBYTES) bytes, found \(seed.count)")
        }
        var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var secretKey = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
        self.id = id
        self.secretKey = secretKey
        self.verificationKey = VerificationKey(id: id, publicKey: publicKey)
    }

    /// A new random key.
    public static func generate(id: String) throws(AuthError) -> SigningKey {
        try SigningKey(id: id, seed: Sodium.randomBytes(Int(crypto_sign_SEEDBYTES)))
    }

    /// Reads `<key id> <base64 seed>` (one line, as written by ``fileContents``).
    public init(fileContents: String) throws(AuthError) {
        let parts = fileContents.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" })
        guard parts.count == 2, let seed = Sodium.fromBase64(parts[1]) else {
            throw AuthError.invalidKey("a signing key file holds one line: <key id> <base64 32-byte seed>")
        }
        try self.init(id: String(parts[0]), seed: seed)
    }

    /// The key as one line, `<key id> <base64 seed>`, for a file readable only by its service.
    public var fileContents: String {
        "\(id) \(Sodium.base64(Array(secretKey[0..<Int(crypto_sign_SEEDBYTES)])))\n"
    }

    func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }
}

/// The public half of a ``SigningKey``: enough to verify, never to sign.
public struct VerificationKey: Sendable, Equatable {
    public let id: String
    let publicKey: [UInt8]

    public init(id: String, publicKey: [UInt8]) {
        self.id = id
        self.publicKey = publicKey
    }

    /// Reads `<key id> <base64 public key>` lines; blank lines and `#` comments are skipped.
    public static func keys(fromFileContents contents: String) throws(AuthError) -> [VerificationKey] {
        var keys: [VerificationKey] = []
        for line in contents.split(separator: "\n") {
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, let key = Sodium.fromBase64(parts[1]),
                  key.count == Int(crypto_sign_PUBLICKEYBYTES) else {
                throw AuthError.invalidKey("a verification key line is: <key id> <base64 32-byte Ed25519 public key>")
            }
            keys.append(VerificationKey(id: String(parts[0]), publicKey: key))
        }
        return keys
    }

    /// The key as one line, `<key id> <base64 public key>`.
    public var fileLine: String { "\(id) \(Sodium.base64(publicKey))\n" }

    func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        guard signature.count == Int(crypto_sign_BYTES) else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}
