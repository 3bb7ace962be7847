/// How a message is written as proto3 JSON; the defaults are the canonical mapping's.
public struct JSONEncodingOptions: Sendable, Hashable {
    /// Writes every field, those at their default value too (`0`, `""`, `[]`, `{}`, the enum's zero
    /// name, `null` for an absent message), as Go's protojson `EmitUnpopulated` does. Oneof members
    /// that are not set stay out. The REST bridge's answers use it.
    public var emitUnpopulated: Bool
    /// Writes the `.proto` field names (`unit_price`) instead of their lowerCamelCase JSON names
    /// (`unitPrice`). Readers accept both either way.
    public var useProtoFieldNames: Bool

    public init(emitUnpopulated: Bool = false, useProtoFieldNames: Bool = false) {
        self.emitUnpopulated = emitUnpopulated
        self.useProtoFieldNames = useProtoFieldNames
    }
}
