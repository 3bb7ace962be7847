import SoukRPCCore

/// Why a token, key or password operation failed. Every case maps to a status a caller understands.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidToken, expiredToken, wrongTokenKind, invalidKey, hashingFailed
        /// Every password-hashing worker is busy and the queue is full.
        case hashingBusy
    }

    public var kind: Kind
    public var message: String

    public var description: String { message }

    static func invalidToken(_ message: String) -> AuthError { AuthError(kind: .invalidToken, message: message) }
    static func invalidKey(_ message: String) -> AuthError { AuthError(kind: .invalidKey, message: message) }

    /// The answer a handler gives: UNAUTHENTICATED for any token problem, INTERNAL for key or hashing failures.
    public var rpcError: RPCError {
        switch kind {
        case .invalidToken, .expiredToken, .wrongTokenKind: RPCError(.unauthenticated, message)
        case .invalidKey, .hashingFailed: RPCError(.internal, "internal error while checking credentials")
        case .hashingBusy: RPCError(.resourceExhausted, message)
        }
    }
}
