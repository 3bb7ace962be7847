import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SoukProtobuf
import SoukReflection
import SoukRPC
import SoukRPCCore
import SoukWire

/// `souk call`: list, describe and call the rpcs of any Souk server from a shell, as grpcurl
/// does for gRPC, with the contracts the server itself describes (reflection), a protoset or
/// `.proto` files: the codec is driven by descriptors, not by types built into `souk`.
public struct CallCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call an rpc of a Souk server with JSON, or list and describe what it serves.",
        discussion: """
            souk call 127.0.0.1:50051 list
            souk call 127.0.0.1:50051 describe souk.users.v1.UsersService
            souk call 127.0.0.1:50051 describe souk.users.v1.User
            souk call 127.0.0.1:50051 souk.users.v1.UsersService/Authenticate '{"email":"ada@example.com","password":"…"}'
            souk call -H "authorization: Bearer $TOKEN" --timeout 2s 127.0.0.1:50052 souk.orders.v1.OrdersService/ListOrders '{}'
            echo '{"pageSize":5}' | souk call … souk.orders.v1.OrdersService/ListOrders    (the request on stdin; or -d @file)

            The answer is printed as proto3 JSON (field names as the contract has them in JSON, enums by \
            name, int64 as strings). A failed call prints its status code, message and details on stderr \
            and exits with the code's number (NOT_FOUND: 5, UNAUTHENTICATED: 16, ...); a request that cannot \
            be encoded exits 3 (INVALID_ARGUMENT) naming the field. Descriptors come from the server's \
            reflection service, or from --protoset or --proto-path when it has none.
            """)

    @Argument(help: "The server: host:port.") public var address: String
    @Argument(help: "list, describe NAME, or package.Service/Method.") public var target: String
    @Argument(help: "describe: the name; a call: the request as JSON (else -d, else stdin, else {}).")
    public var argument: String?
    @Option(name: [.customShort("d"), .customLong("data")], help: "The request: JSON, @FILE, or @- for stdin.")
    public var data: String?
    @Option(name: [.customShort("H"), .customLong("header")], help: "Metadata to send, 'key: value' (repeatable).")
    public var headers: [String] = []
    @Option(help: "The call's deadline, e.g. 500ms, 2s, 1m (default 10s).") public var timeout = "10s"
    @Flag(help: "Print every field, those at their default values too.") public var emitDefaults = false
    @Flag(help: "Print the .proto field names (unit_price) rather than the JSON names (unitPrice).")
    public var protoNames = false
    @Option(help: "A FileDescriptorSet file (protoc --descriptor_set_out --include_imports) instead of reflection.")
    public var protoset: String?
    @Option(help: "A folder of .proto files, compiled with protoc, instead of reflection (repeatable: imports are looked up in every one).")
    public var protoPath: [String] = []

    public init() {}

    /// A failure of `souk call` itself or of the call: what to print and the exit status.
    struct Failure: Error {
        var message: String
        var code: RPCStatusCode
    }

    public func run() async throws {
        do {
            try await perform()
        } catch let failure as Failure {
            FileHandle.standardError.write(Data((failure.message + "\n").utf8))
            throw ExitCode(Int32(failure.code.rawValue))
        }
    }

    func perform() async throws {
        let endpoint = try parseAddress()
        let client = RPCClient(endpoints: [endpoint], configuration: .init(maxAttempts: 1))
        defer { Task { await client.close() } }
        let deadline = try parseTimeout()
        switch target {
        case "list":
            try await list(client, deadline: deadline)
        case "describe":
            guard let name = argument else { throw Failure(message: "describe needs a name: souk call ADDRESS describe NAME", code: .invalidArgument) }
            let pool = try await descriptors(client, symbol: name, deadline: deadline)
            print(try Describer(pool: pool).describe(name))
        default:
            try await call(client, deadline: deadline)
        }
    }

    // MARK: The call

    func call(_ client: RPCClient, deadline: Duration) async throws {
        let (serviceName, methodName) = try splitMethod(target)
        let pool = try await descriptors(client, symbol: serviceName, deadline: deadline)
        guard let service = pool.services[serviceName] else {
            let near = pool.names(near: serviceName, among: Array(pool.services.keys))
            throw Failure(message: "no service \(serviceName) here" + suggestion(near), code: .unimplemented)
        }
        guard let method = service.methods.first(where: { $0.name == methodName }) else {
            let near = pool.names(near: methodName, among: service.methods.map(\.name)).map { "\(serviceName)/\($0)" }
            throw Failure(message: "\(serviceName) has no method \(methodName)" + suggestion(near), code: .unimplemented)
        }
        let codec = DynamicCodec(pool: pool)
        let requestText = try requestJSON()
        let request: [UInt8]
        do {
            let json = try JSONParser.parse(requestText)
            request = try codec.encode(try codec.decode(json: json, as: method.inputType))
        } catch let error as ProtoJSONError {
            throw Failure(message: "the request is not a valid \(method.inputType): \(error)", code: .invalidArgument)
        }
        let descriptor = MethodDescriptor(service: serviceName, method: methodName, inputType: method.inputType,
                                          outputType: method.outputType, isInternal: method.isInternal,
                                          isIdempotent: method.isIdempotent)
        let answer: [UInt8]
        do {
            answer = try await client.unary(bytes: request, method: descriptor, options: CallOptions(timeout: deadline, metadata: try metadata()))
        } catch let error as RPCError {
            throw Failure(message: Self.describe(error), code: error.code)
        }
        let response = try codec.decode(answer, as: method.outputType)
        let text = try codec.encodeJSON(response, options: JSONEncodingOptions(emitUnpopulated: emitDefaults, useProtoFieldNames: protoNames))
        print(PrettyJSON.format(text))
    }

    /// A failed call as grpcurl shows one: code, message, then the details.
    static func describe(_ error: RPCError) -> String {
        var lines = ["ERROR:", "  Code: \(error.code.name)", "  Message: \(error.message)"]
        if !error.details.isEmpty, let details = try? ErrorDetails(serializedBytes: error.details) {
            var writer = JSONWriter()
            details.encodeJSON(to: &writer)
            lines.append("  Details: " + PrettyJSON.format(writer.string).replacingOccurrences(of: "\n", with: "\n  "))
        }
        return lines.joined(separator: "\n")
    }

    func splitMethod(_ text: String) throws -> (service: String, method: String) {
        var name = text.hasPrefix("/") ? String(text.dropFirst()) : text
        if !name.contains("/"), let dot = name.lastIndex(of: ".") {
            name.replaceSubrange(dot...dot, with: "/")
        }
        let parts = name.split(separator: "/")
        guard parts.count == 2, parts[0].contains(".") else {
            throw Failure(message: "\(text) is not list, describe or package.Service/Method", code: .invalidArgument)
        }
        return (String(parts[0]), String(parts[1]))
    }

    func suggestion(_ near: [String]) -> String {
        near.isEmpty ? "" : "; did you mean \(near.joined(separator: " or "))?"
    }

    func requestJSON() throws -> String {
        if let argument { return argument }
        if let data {
            if data == "@-" { return readStandardInput() }
            if data.hasPrefix("@") {
                guard let text = try? String(contentsOfFile: String(data.dropFirst()), encoding: .utf8) else {
                    throw Failure(message: "cannot read the request file \(data.dropFirst())", code: .invalidArgument)
                }
                return text
            }
            return data
        }
        return isatty(0) == 1 ? "{}" : readStandardInput()
    }

    func readStandardInput() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }

    func metadata() throws -> Metadata {
        var metadata = Metadata()
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else {
                throw Failure(message: "-H \(header): give 'key: value'", code: .invalidArgument)
            }
            let key = header[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            metadata.append(key, value)
        }
        return metadata
    }

    func parseAddress() throws -> RPCClient.Endpoint {
        guard let endpoint = try? RPCClient.Endpoint.list(parsing: address).first, !address.contains(",") else {
            throw Failure(message: "\(address) is not host:port", code: .invalidArgument)
        }
        return endpoint
    }

    func parseTimeout() throws -> Duration {
        let units: [(String, (Int) -> Duration)] = [("ms", { .milliseconds($0) }), ("s", { .seconds($0) }), ("m", { .seconds($0 * 60) })]
        for (suffix, make) in units where timeout.hasSuffix(suffix) {
            if let value = Int(timeout.dropLast(suffix.count)), value > 0 { return make(value) }
        }
        throw Failure(message: "--timeout \(timeout): give a duration such as 500ms, 2s or 1m", code: .invalidArgument)
    }

    // MARK: Descriptors

    /// The descriptors: from the protoset, the .proto files, or the server's reflection of `symbol`.
    func descriptors(_ client: RPCClient, symbol: String, deadline: Duration) async throws -> DescriptorPool {
        var sets: [[UInt8]] = []
        if let protoset {
            guard let data = FileManager.default.contents(atPath: protoset) else {
                throw Failure(message: "cannot read the protoset \(protoset)", code: .invalidArgument)
            }
            sets.append([UInt8](data))
        } else if !protoPath.isEmpty {
            sets.append(try compile(protoPath))
        } else {
            var request = FileContainingSymbolRequest()
            request.symbol = symbol
            sets.append(try await reflection(client) { try await $0.fileContainingSymbol(request, options: .timeout(deadline)) }.fileDescriptorSet)
        }
        do {
            return try DescriptorPool(fileDescriptorSets: sets)
        } catch {
            throw Failure(message: "the descriptors are not a valid FileDescriptorSet: \(error)", code: .internal)
        }
    }

    /// Every .proto under `folders`, compiled by protoc into a FileDescriptorSet.
    func compile(_ folders: [String]) throws -> [UInt8] {
        let files = folders.flatMap { folder in
            (FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".proto") }
        }.sorted()
        let folder = folders.joined(separator: ", ")
        guard !files.isEmpty else { throw Failure(message: "no .proto file under \(folder)", code: .invalidArgument) }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("souk-call-\(getpid()).binpb").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let protoc = Process()
        protoc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        protoc.arguments = ["protoc"] + folders.flatMap { ["-I", $0] } + ["-I", "/usr/include", "--include_imports",
                            "--include_source_info", "--descriptor_set_out=\(output)"] + files
        let errors = Pipe()
        protoc.standardError = errors
        do { try protoc.run() } catch {
            throw Failure(message: "cannot run protoc (apt-get install protobuf-compiler): \(error)", code: .failedPrecondition)
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        protoc.waitUntilExit()
        guard protoc.terminationStatus == 0, let data = FileManager.default.contents(atPath: output) else {
            throw Failure(message: "protoc failed on \(folder):\n\(message)", code: .invalidArgument)
        }
        return [UInt8](data)
    }

    // MARK: list

    /// A call to the server's reflection service; its failure as `souk call` reports it.
    func reflection<Answer>(_ client: RPCClient, _ call: (ReflectionService.Client) async throws -> Answer) async throws -> Answer {
        do {
            return try await call(ReflectionService.Client(transport: client))
        } catch let error as RPCError where error.code == .unimplemented {
            throw Failure(message: "\(address) has no reflection service (turned off?): pass --protoset FILE or --proto-path DIR",
                          code: .unimplemented)
        } catch let error as RPCError {
            throw Failure(message: Self.describe(error), code: error.code)
        }
    }

    func list(_ client: RPCClient, deadline: Duration) async throws {
        // Each service's name and its methods: name, request, response, internal.
        var services: [(name: String, methods: [(String, String, String, Bool)])] = []
        if protoset != nil || !protoPath.isEmpty {
            let pool = try await descriptors(client, symbol: "", deadline: deadline)
            services = pool.services.keys.sorted().map { name in
                (name, pool.services[name]!.methods.map { ($0.name, $0.inputType, $0.outputType, $0.isInternal) })
            }
        } else {
            services = try await reflection(client) { try await $0.listServices(ListServicesRequest(), options: .timeout(deadline)) }
                .services.map { service in (service.name, service.methods.map { ($0.name, $0.inputType, $0.outputType, $0.internal) }) }
        }
        var lines: [String] = []
        for service in services {
            lines.append(service.name)
            for (name, input, output, isInternal) in service.methods {
                lines.append("  \(name)(\(input)) returns (\(output))" + (isInternal ? "  [internal]" : ""))
            }
        }
        print(lines.joined(separator: "\n"))
    }
}

/// `souk call … describe NAME`: a service, a method, a message or an enum as `.proto`-like text,
/// with the contract's comments.
struct Describer {
    let pool: DescriptorPool

    func describe(_ name: String) throws -> String {
        let name = name.hasPrefix(".") ? String(name.dropFirst()) : name
        if let service = pool.services[name] {
            var lines = comment(service.comment, indent: "") + ["service \(service.fullName.split(separator: ".").last!) {  // \(service.fullName)"]
            for method in service.methods {
                lines += comment(method.comment, indent: "  ")
                lines.append("  rpc \(method.name)(\(method.inputType)) returns (\(method.outputType));" + flags(method))
            }
            return (lines + ["}"]).joined(separator: "\n")
        }
        if let dot = name.lastIndex(of: "."), let service = pool.services[String(name[..<dot])],
           let method = service.methods.first(where: { $0.name == name[name.index(after: dot)...] }) {
            return (comment(method.comment, indent: "") + [
                "rpc \(method.name)(\(method.inputType)) returns (\(method.outputType));" + flags(method),
            ]).joined(separator: "\n")
        }
        if let message = pool.messages[name] {
            var lines = comment(message.comment, indent: "") + ["message \(message.fullName) {"]
            for field in message.declaredFields {
                lines += comment(field.comment, indent: "  ")
                let label = field.isRepeated && !(pool.messages[field.typeName ?? ""]?.isMapEntry ?? false) ? "repeated " : ""
                let oneof = field.oneofIndex.map { "  // oneof \(message.oneofs[$0])" } ?? ""
                lines.append("  \(label)\(typeText(field)) \(field.name) = \(field.number);  // JSON: \(field.jsonName)" + oneof)
            }
            return (lines + ["}"]).joined(separator: "\n")
        }
        if let enumeration = pool.enums[name] {
            var lines = comment(enumeration.comment, indent: "") + ["enum \(enumeration.fullName) {"]
            for value in enumeration.values {
                lines += comment(value.comment, indent: "  ")
                lines.append("  \(value.name) = \(value.number);")
            }
            return (lines + ["}"]).joined(separator: "\n")
        }
        let near = pool.names(near: name)
        throw CallCommand.Failure(message: "nothing named \(name) here" + (near.isEmpty ? "" : "; did you mean \(near.joined(separator: " or "))?"),
                                  code: .notFound)
    }

    func typeText(_ field: FieldDescription) -> String {
        if let name = field.typeName, let entry = pool.messages[name], entry.isMapEntry {
            return "map<\(typeText(entry.fields[0])), \(typeText(entry.fields[1]))>"
        }
        return field.typeName ?? field.kind.protoName
    }

    func flags(_ method: MethodDescription) -> String {
        let flags = (method.isInternal ? ["internal"] : []) + (method.isIdempotent ? ["idempotent"] : [])
        return flags.isEmpty ? "" : "  // " + flags.joined(separator: ", ")
    }

    func comment(_ text: String?, indent: String) -> [String] {
        guard let text else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { "\(indent)// \($0)" }
    }
}

/// Compact JSON laid out with two-space indentation, for people.
enum PrettyJSON {
    static func format(_ text: String) -> String {
        guard let value = try? JSONParser.parse(text) else { return text }
        var out = ""
        write(value, indent: "", into: &out)
        return out
    }

    static func write(_ value: JSONValue, indent: String, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let literal): out += literal
        case .string(let text): out += quoted(text)
        case .array(let elements):
            guard !elements.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (index, element) in elements.enumerated() {
                out += indent + "  "
                write(element, indent: indent + "  ", into: &out)
                out += index == elements.count - 1 ? "\n" : ",\n"
            }
            out += indent + "]"
        case .object(let object):
            guard !object.members.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (index, member) in object.members.enumerated() {
                out += indent + "  " + quoted(member.key) + ": "
                write(member.value, indent: indent + "  ", into: &out)
                out += index == object.members.count - 1 ? "\n" : ",\n"
            }
            out += indent + "}"
        }
    }

    static func quoted(_ text: String) -> String {
        var writer = JSONWriter()
        writer.value(text)
        return writer.string
    }
}
