import Foundation
import SoukAuth
import SoukRPCCore

/// Who may make a call: the checks every Souk service makes on the credentials in a call's
/// metadata, so that each answers alike. A user's access token names the caller of a public
/// rpc; a service credential (made for this service) is the only key to an internal one.
public struct CallerCheck: Sendable {
    /// Verifies users' access tokens (the users service's public keys).
    public let userTokens: TokenVerifier
    /// Verifies the service credentials internal rpcs demand (audience: this service).
    public let serviceCredentials: TokenVerifier

    public init(userTokens: TokenVerifier, serviceCredentials: TokenVerifier) {
        self.userTokens = userTokens
        self.serviceCredentials = serviceCredentials
    }

    /// The id of the user whose access token came with the call; UNAUTHENTICATED without a valid one.
    public func user(_ context: ServerContext) throws(RPCError) -> UUID {
        let claims: TokenClaims
        do {
            claims = try userTokens.verify(metadata: context.metadata, kind: .user)
        } catch {
            throw error.rpcError
        }
        guard let id = UUID(text: claims.subject) else {
            throw RPCError(.unauthenticated, "the access token does not name a user")
        }
        return id
    }

    /// The name of the Souk service whose credential came with the call (e.g. `souk-payments`).
    /// A user's valid access token is PERMISSION_DENIED (the user is known, the rpc is not
    /// theirs); anything else is UNAUTHENTICATED.
    public func service(_ context: ServerContext) throws(RPCError) -> String {
        do {
            return try serviceCredentials.verify(metadata: context.metadata, kind: .service).subject
        } catch {
            if (try? userTokens.verify(metadata: context.metadata, kind: .user)) != nil {
                throw RPCError(.permissionDenied,
                               "\(context.method.method) is internal: only Souk services may call it, with a service credential")
            }
            throw error.rpcError
        }
    }
}
