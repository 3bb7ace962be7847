import SoukAuth
import SoukRPCCore
import Synchronization

/// The service credentials a service sends with its calls to other services' internal rpcs,
/// signed with its service key. Each callee's credential is reused until half its minute
/// is over, so that a busy caller signs about twice a minute, not once a call.
public final class OutgoingCredentials: Sendable {
    private let caller: String
    private let key: SigningKey
    private let issued = Mutex<[String: (token: String, at: UnixTime)]>([:])

    /// Credentials of `caller` (e.g. `souk-orders`), signed with `key`.
    public init(caller: String, key: SigningKey) {
        self.caller = caller
        self.key = key
    }

    /// The `authorization` metadata for a call to `callee` (e.g. `souk-users`).
    public func metadata(for callee: String, now: UnixTime = .now) -> Metadata {
        let reuseFor = ServiceCredentials.lifetime.components.seconds / 2
        let token = issued.withLock { issued in
            if let current = issued[callee], now.seconds - current.at.seconds < reuseFor, now.seconds >= current.at.seconds {
                return current.token
            }
            let token = ServiceCredentials.issue(caller: caller, callee: callee, key: key, now: now)
            issued[callee] = (token, now)
            return token
        }
        return Metadata(["authorization": "Bearer \(token)"])
    }
}
