import CSodium

/// Seals opaque strings a service hands out and must later trust again (page tokens):
/// HMAC-SHA-512-256 (libsodium's `crypto_auth`) over the payload, base64url with the tag
/// appended. A sealed string that was altered, or sealed with another key, does not open.
public struct MessageAuthenticator: Sendable {
    private let key: [UInt8]

    /// A key of its own for `purpose`, derived from a service's signing key, so that every
    /// instance holding that key seals and opens the same way, across restarts, with no
    /// further secret to configure. Different purposes get unrelated keys.
    public init(derivedFrom signingKey: SigningKey, purpose: String) {
        Sodium.ensureReady()
        let seed = Array(signingKey.secretKey[0..<Int(crypto_sign_SEEDBYTES)])
        var key = [UInt8](repeating: 0, count: Int(crypto_auth_KEYBYTES))
        let message = Array("souk message authenticator: \(purpose)".utf8)
        crypto_generichash(&key, key.count, message, UInt64(message.count), seed, seed.count)
        self.key = key
    }

    /// A random key, for tests and for values that need not outlive the process.
    public static func random() -> MessageAuthenticator {
        MessageAuthenticator(key: Sodium.randomBytes(Int(crypto_auth_KEYBYTES)))
    }

    private init(key: [UInt8]) {
        self.key = key
    }

    /// `payload` and its tag, as URL-safe base64 without padding.
    public func seal(_ payload: [UInt8]) -> String {
        Sodium.base64URL(payload + tag(payload))
    }

    /// The tag of `payload` alone (32 bytes): a keyed fingerprint that reveals nothing of a
    /// secret payload (a card number) to whoever lacks the key.
    public func tag(_ payload: [UInt8]) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: Int(crypto_auth_BYTES))
        crypto_auth(&tag, payload, UInt64(payload.count), key)
        return tag
    }

    /// The payload of a string ``seal(_:)`` made with this key; nil for anything else
    /// (compared in constant time).
    public func open(_ sealed: String) -> [UInt8]? {
        guard sealed.utf8.count <= 4096, let bytes = Sodium.fromBase64URL(Substring(sealed)),
              bytes.count >= Int(crypto_auth_BYTES) else { return nil }
        let payload = Array(bytes.dropLast(Int(crypto_auth_BYTES)))
        let tag = Array(bytes.suffix(Int(crypto_auth_BYTES)))
        guard crypto_auth_verify(tag, payload, UInt64(payload.count), key) == 0 else { return nil }
        return payload
    }
}
