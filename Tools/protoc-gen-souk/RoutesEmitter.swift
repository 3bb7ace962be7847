/// Writes the REST route table, the message registry and the OpenAPI document of one target.
struct RoutesEmitter {
    let registry: TypeRegistry

    struct Route {
        var service: ServiceModel
        var servicePrefix: String
        var method: MethodModel
        var http: HTTPRuleModel
    }

    /// Every annotated rpc that is not internal, in file and `.proto` order.
    static func routes(in files: [FileModel]) -> [Route] {
        files.flatMap { file in
            file.services.flatMap { service in
                service.methods.compactMap { method in
                    guard let http = method.http, !method.isInternal else { return nil }
                    return Route(service: service, servicePrefix: Naming.typePrefix(for: file), method: method, http: http)
                }
            }
        }
    }

    /// grpc-gateway fills a PATCH's `update_mask` (a google.protobuf.FieldMask) from the body's
    /// fields when the body is one field of the request.
    func updateMaskField(_ route: Route) -> String? {
        guard route.http.verb == "patch", route.http.body != "*", !route.http.body.isEmpty,
              let request = registry[route.method.inputType].message,
              let field = request.fields.first(where: { $0.name == "update_mask" }),
              field.typeName == ".google.protobuf.FieldMask", !field.isRepeated else { return nil }
        return field.name
    }

    func emitRoutes(named name: String, files: [FileModel], openAPI: String, into w: inout CodeWriter) {
        w.line("/// The REST bridge's routes: every rpc with an HTTP annotation that is not internal.")
        w.block("public enum \(name) {") { w in
            w.line("public static let all: [HTTPRoute] = [")
            for route in Self.routes(in: files) {
                let method = Naming.escaped(Naming.lowerCamel(route.method.name))
                w.line("    HTTPRoute(")
                w.line("        verb: .\(route.http.verb), pathTemplate: \"\(route.http.path)\", body: \"\(route.http.body)\",")
                if let mask = updateMaskField(route) { w.line("        updateMaskField: \"\(mask)\",") }
                if route.http.created { w.line("        successStatus: 201,") }
                w.line("        method: \(route.servicePrefix)\(route.service.name).Methods.\(method),")
                w.line("        request: \(registry[route.method.inputType].swiftName).self, response: \(registry[route.method.outputType].swiftName).self),")
            }
            w.line("]")
            w.line()
            w.line("/// The OpenAPI 3 document of these routes, generated from the same contracts.")
            w.line("public static let openAPIDocument: String = #\"\"\"")
            for line in openAPI.split(separator: "\n", omittingEmptySubsequences: false) { w.line(String(line)) }
            w.line("\"\"\"#")
        }
    }

    func emitRegistry(named name: String, files: [FileModel], into w: inout CodeWriter) {
        func collect(_ message: MessageModel) -> [String] {
            guard !message.isMapEntry else { return [] }
            return [registry[message.fullName].swiftName] + message.nested.flatMap(collect)
        }
        let names = files.flatMap { $0.messages.flatMap(collect) }
        w.line("/// Every message type of this module, for tools that look types up by name.")
        w.block("public enum \(name) {") { w in
            w.line("public static let all: [any ProtoMessage.Type] = [")
            for typeName in names { w.line("    \(typeName).self,") }
            w.line("]")
            w.line()
            w.line("/// The message type with this full protobuf name.")
            w.line("public static let byName: [String: any ProtoMessage.Type] = Dictionary(uniqueKeysWithValues: all.map { ($0.protoMessageName, $0) })")
        }
    }
}
