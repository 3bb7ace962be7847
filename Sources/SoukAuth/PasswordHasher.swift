import CSodium
import Dispatch
import Foundation
import Synchronization

/// Hashes and verifies passwords with Argon2id (libsodium's `crypto_pwhash_str`).
///
/// The stored string records the algorithm and its parameters
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so the parameters can be
/// raised later: ``needsRehash(_:)`` tells, after a successful login, that a hash
/// was made with weaker ones. Hashing is deliberately slow and memory-hungry, so
/// it runs on threads of its own, never on an event loop or Swift's cooperative pool,
/// and no more at once than there are cores: past them a short queue waits, and past
/// the queue a request is refused at once (``AuthError/Kind/hashingBusy``,
/// RESOURCE_EXHAUSTED), so that a flood of sign-ins costs the flood, not everyone.
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
    private let workers: HashingWorkers

    /// Longer passwords are refused before hashing: Argon2 accepts them, but a
    /// request body full of megabyte passwords should cost nothing.
    public static let maxPasswordBytes = 1024

    /// At most `concurrency` hashes at once (the cores, by default), and at most
    /// `queueLength` more waiting (4 per worker by default).
    public init(parameters: Parameters = .owasp, concurrency: Int? = nil, queueLength: Int? = nil) {
        Sodium.ensureReady()
        self.parameters = parameters
        let concurrency = max(1, concurrency ?? ProcessInfo.processInfo.activeProcessorCount)
        self.workers = HashingWorkers(concurrency: concurrency, queueLength: max(0, queueLength ?? 4 * concurrency))
    }

    /// The encoded Argon2id hash of `password`, with a fresh random salt.
    public func hash(_ password: String) async throws(AuthError) -> String {
        let parameters = self.parameters
        let result: String? = try await run {
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

    /// Whether `password` matches `encodedHash`. Takes as long as hashing, whatever the
    /// answer; throws only when the workers and their queue are full.
    public func verify(_ password: String, against encodedHash: String) async throws(AuthError) -> Bool {
        try await run {
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

    private func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws(AuthError) -> T {
        let admitted = await workers.admit()
        guard admitted else {
            throw AuthError(kind: .hashingBusy, message: "too many sign-ins at once; try again in a moment")
        }
        defer { workers.finished() }
        return await withCheckedContinuation { continuation in
            workers.queue.async { continuation.resume(returning: work()) }
        }
    }
}

/// Admission to the hashing threads: `concurrency` at once, `queueLength` waiting in
/// order, the rest refused.
final class HashingWorkers: Sendable {
    let queue = DispatchQueue(label: "souk.password-hasher", qos: .userInitiated, attributes: .concurrent)
    private let concurrency: Int
    private let queueLength: Int
    // The queue is short (a few per core): an array's removeFirst is cheap enough.
    private let state = Mutex<(running: Int, waiting: [CheckedContinuation<Bool, Never>])>((0, []))

    init(concurrency: Int, queueLength: Int) {
        self.concurrency = concurrency
        self.queueLength = queueLength
    }

    /// True once a worker is free for the caller; false at once when the queue is full.
    func admit() async -> Bool {
        await withCheckedContinuation { continuation in
            let answer: Bool? = state.withLock { state in
                if state.running < concurrency {
                    state.running += 1
                    return true
                }
                if state.waiting.count < queueLength {
                    state.waiting.append(continuation)
                    return nil
                }
                return false
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// Callers waiting for a worker now.
    var waiting: Int { state.withLock { $0.waiting.count } }

    /// Hands the finished worker to the next in the queue, if any.
    func finished() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.running -= 1
            return nil
        }
        next?.resume(returning: true)
    }
}
