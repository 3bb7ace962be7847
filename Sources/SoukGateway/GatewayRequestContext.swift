import Hummingbird
import NIOCore

/// A request's context in the gateway: Hummingbird's, and the address of the client's socket
/// (forwarded to the services as `x-forwarded-for`, so that users throttles sign-ins per client
/// rather than per gateway).
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection, to stop reading a request the gateway has given up on.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}
