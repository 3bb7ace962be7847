import CSodium
import Dispatch

/// Hashes and verifies passwords with Argon2id (libsodium's `crypto_pwhash_str`).
///
/// The stored string records the algorithm and its parameters
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so the parameters can be
/// raised later: ``needsRehash(_:)`` tells, after a successful login, that a hash
/// was made with weaker ones. Hashing is deliberately slow and memory-hungry, so
/// it runs on threads of its own, never on an event loop or Swift's cooperative pool.
public struct PasswordHasher: Sendable {
    /// Argon2id cost: passes over memory, and memory in bytes (libsodium fixes parallelism at 1).
    public struct Parameters: Sendable, Equatable {
        public var iterations: UInt64
        public var memoryBytes: Int

        /// OWASP's password storage cheat sheet: Argon2id with m = 19 MiB, t = 2, p = 1.
        public static let owasp = Parameters(iterations: 2, memoryBytes: 19 * 1024 * 1024)
        /// For tests only: the cheapest parameters libsodium accepts.
        public static let minimal = Parameters(iterations: 1, memoryBytes: 8 * 1024)

        public init(iterations: UInt64, memoryBytes: Int) {
            self.iterations = iterations
            self.memoryBytes = memoryBytes
        }
    }

    public let parameters: Parameters
    private let queue: DispatchQueue

    /// Longer passwords are refused before hashing: Argon2 accepts them, but a
    /// request body full of megabyte passwords should cost nothing.
    public static let maxPasswordBytes = 1024

    public init(parameters: Parameters = .owasp) {
        Sodium.ensureReady()
        self.parameters = parameters
        self.queue = DispatchQueue(label: "souk.password-hasher", qos: .userInitiated, attributes: .concurrent)
    }

    /// The encoded Argon2id hash of `password`, with a fresh random salt.
    public func hash(_ password: String) async throws(AuthError) -> String {
        let parameters = self.parameters
        let result: String? = await run {
            var output = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
            // The password's exact UTF-8 bytes: a NUL inside it must not end it early.
            let status = PasswordHasher.withBytes(password) { bytes, count in
                crypto_pwhash_str_alg(&output, bytes, UInt64(count), parameters.iterations,
                                      parameters.memoryBytes, crypto_pwhash_ALG_ARGON2ID13)
            }
            return status == 0 ? output.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : nil
        }
        guard let result else { throw AuthError(kind: .hashingFailed, message: "password hashing failed (out of memory?)") }
        return result
    }

    /// Whether `password` matches `encodedHash`. Takes as long as hashing, whatever the answer.
    public func verify(_ password: String, against encodedHash: String) async -> Bool {
        await run {
            PasswordHasher.withBytes(password) { bytes, count in
                encodedHash.withCString { hash in
                    crypto_pwhash_str_verify(hash, bytes, UInt64(count)) == 0
                }
            }
        }
    }

    /// Whether `encodedHash` was made with parameters other than this hasher's (or is not Argon2id).
    public func needsRehash(_ encodedHash: String) -> Bool {
        encodedHash.withCString { hash in
            crypto_pwhash_str_needs_rehash(hash, parameters.iterations, parameters.memoryBytes) != 0
        }
    }

    private static func withBytes<T>(_ text: String, _ body: (UnsafePointer<CChar>, Int) -> T) -> T {
        let bytes = Array(text.utf8) + [0]
        return bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!, buffer.count - 1) }
        }
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
