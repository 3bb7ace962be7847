/// Every message and enum protoc knows about, by full name, with its Swift and C names.
struct TypeRegistry {
    struct Entry {
        /// `Order.Item` — qualified from the top level of the Swift module.
        var swiftName: String
        /// `Souk__Orders__V1__Order__Item`
        var cType: String
        /// `souk__orders__v1__order__item`
        var cFunctionPrefix: String
        var isEnum: Bool
        var message: MessageModel?
        var enumModel: EnumModel?
    }

    private(set) var entries: [String: Entry] = [:]

    init(files: [FileModel]) {
        for file in files {
            let prefix = Naming.typePrefix(for: file)
            for message in file.messages { add(message, swiftParent: nil, prefix: prefix) }
            for e in file.enums { add(e, swiftParent: nil, prefix: prefix) }
        }
    }

    private mutating func add(_ message: MessageModel, swiftParent: String?, prefix: String) {
        let swiftName = swiftParent.map { "\($0).\(message.name)" } ?? prefix + message.name
        entries[message.fullName] = Entry(
            swiftName: swiftName, cType: Naming.cType(message.fullName),
            cFunctionPrefix: Naming.cFunctionPrefix(message.fullName), isEnum: false, message: message)
        for nested in message.nested { add(nested, swiftParent: swiftName, prefix: prefix) }
        for e in message.enums { add(e, swiftParent: swiftName, prefix: prefix) }
    }

    private mutating func add(_ e: EnumModel, swiftParent: String?, prefix: String) {
        let swiftName = swiftParent.map { "\($0).\(e.name)" } ?? prefix + e.name
        entries[e.fullName] = Entry(
            swiftName: swiftName, cType: Naming.cType(e.fullName),
            cFunctionPrefix: Naming.cFunctionPrefix(e.fullName), isEnum: true, enumModel: e)
    }

    subscript(fullName: String) -> Entry {
        guard let entry = entries[fullName] else { fatalError("protoc-gen-souk: unknown type \(fullName)") }
        return entry
    }
}
