/// Writes a service's method descriptors, handler protocol and client stub.
struct ServiceEmitter {
    let registry: TypeRegistry

    func emit(_ service: ServiceModel, prefix: String, into w: inout CodeWriter) throws {
        for method in service.methods where method.clientStreaming || method.serverStreaming {
            throw MessageEmitter.PluginError(description: "\(service.fullName).\(method.name): streaming rpcs are not supported by the Souk RPC runtime")
        }
        let typeName = prefix + service.name
        w.doc(service.comment)
        w.block("public enum \(typeName) {") { w in
            w.line("/// The fully qualified service name.")
            w.line("public static let serviceName = \"\(service.fullName)\"")
            w.line()
            w.line("/// The descriptor of each rpc.")
            w.block("public enum Methods {") { w in
                for method in service.methods {
                    w.doc(method.comment)
                    w.line("public static let \(Naming.escaped(Naming.lowerCamel(method.name))) = MethodDescriptor(")
                    w.line("    service: \"\(service.fullName)\", method: \"\(method.name)\",")
                    w.line("    inputType: \"\(method.inputType.dropFirst())\", outputType: \"\(method.outputType.dropFirst())\",")
                    w.line("    isInternal: \(method.isInternal), isIdempotent: \(method.isIdempotent))")
                }
                w.line()
                w.line("/// Every rpc of the service, in `.proto` order.")
                w.line("public static let all: [MethodDescriptor] = [\(service.methods.map { Naming.escaped(Naming.lowerCamel($0.name)) }.joined(separator: ", "))]")
            }
            w.line()
            w.line("/// What a server implements to serve \(service.name).")
            w.block("public protocol Handler: RPCService {") { w in
                for method in service.methods {
                    w.doc(method.comment)
                    w.line("func \(Naming.escaped(Naming.lowerCamel(method.name)))(_ request: \(registry[method.inputType].swiftName), context: ServerContext) async throws -> \(registry[method.outputType].swiftName)")
                }
            }
            w.line()
            w.line("/// Calls \(service.name) through any client transport.")
            w.block("public struct Client: Sendable {") { w in
                w.line("public let transport: any ClientTransport")
                w.line()
                w.line("public init(transport: any ClientTransport) {")
                w.line("    self.transport = transport")
                w.line("}")
                for method in service.methods {
                    let name = Naming.escaped(Naming.lowerCamel(method.name))
                    let output = registry[method.outputType].swiftName
                    w.line()
                    w.doc(method.comment)
                    w.line("public func \(name)(_ request: \(registry[method.inputType].swiftName), options: CallOptions = .defaults) async throws -> \(output) {")
                    w.line("    try await transport.unary(request, method: Methods.\(name), options: options, responseType: \(output).self)")
                    w.line("}")
                }
            }
        }
        w.line()
        w.block("extension \(typeName).Handler {") { w in
            w.line("/// The methods a router serves for this handler.")
            w.block("public var methods: [RPCServerMethod] {") { w in
                w.line("[")
                for method in service.methods {
                    let name = Naming.escaped(Naming.lowerCamel(method.name))
                    w.line("    .unary(\(typeName).Methods.\(name)) { (request: \(registry[method.inputType].swiftName), context) in")
                    w.line("        try await self.\(name)(request, context: context)")
                    w.line("    },")
                }
                w.line("]")
            }
        }
    }
}
