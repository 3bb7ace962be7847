import SoukRPCCore
import SoukWire
import Synchronization

/// `souk.rpc.v1.ReflectionService`, which every ``RPCServer`` hosts unless told not to: the
/// services and methods it hosts, and the descriptors of the contracts it was given.
public struct ReflectionServiceImplementation: ReflectionService.Handler {
    private let services: [ServiceInfo]
    private let descriptorSets: [[UInt8]]
    /// The descriptors, read at the first FileContainingSymbol rather than at every server's start
    /// (tests start hundreds of servers; most processes are never asked).
    private let pool = PoolCache()

    final class PoolCache: Sendable {
        let read = Mutex<Result<DescriptorPool, WireFormatError>?>(nil)
    }

    /// `services`: every other service the server hosts (reflection adds itself);
    /// `descriptorSets`: the serialized `FileDescriptorSet`s of their contracts. SoukWire's own
    /// (health, reflection) are always added.
    public init(services: [any RPCService], descriptorSets: [[UInt8]]) {
        var byName: [String: ServiceInfo] = [:]
        var order: [String] = []
        let own = [ReflectionService.Methods.listServices, ReflectionService.Methods.fileContainingSymbol]
        for method in services.flatMap(\.methods).map(\.descriptor) + own {
            if byName[method.service] == nil {
                var service = ServiceInfo()
                service.name = method.service
                byName[method.service] = service
                order.append(method.service)
            }
            var info = MethodInfo()
            info.name = method.method
            info.inputType = method.inputType
            info.outputType = method.outputType
            info.internal = method.isInternal
            info.idempotent = method.isIdempotent
            byName[method.service]!.methods.append(info)
        }
        self.services = order.sorted().map { byName[$0]! }
        self.descriptorSets = descriptorSets
    }

    public func listServices(_ request: ListServicesRequest, context: ServerContext) async throws -> ListServicesResponse {
        var response = ListServicesResponse()
        response.services = services
        return response
    }

    public func fileContainingSymbol(_ request: FileContainingSymbolRequest,
                                     context: ServerContext) async throws -> FileContainingSymbolResponse {
        let pool: DescriptorPool
        let read = self.pool.read.withLock { cached in
            if let cached { return cached }
            let made = Result { () throws(WireFormatError) in
                try DescriptorPool(fileDescriptorSets: [SoukWireDescriptors.fileDescriptorSet] + descriptorSets)
            }
            cached = made
            return made
        }
        switch read {
        case .success(let read): pool = read
        case .failure(let error): throw RPCError(.internal, "this server's contract descriptors could not be read: \(error)")
        }
        guard !request.symbol.isEmpty else {
            throw RPCError(.invalidArgument, "symbol is empty: give a full name, e.g. souk.users.v1.User")
        }
        guard let file = pool.file(containing: request.symbol) else {
            let near = pool.names(near: request.symbol)
            throw RPCError(.notFound, "no contract this server knows defines \(request.symbol)"
                           + (near.isEmpty ? "" : "; did you mean \(near.joined(separator: ", "))?"))
        }
        var response = FileContainingSymbolResponse()
        response.fileDescriptorSet = pool.fileDescriptorSet(of: file)
        return response
    }
}
