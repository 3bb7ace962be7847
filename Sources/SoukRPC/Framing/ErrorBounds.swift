import SoukProtobuf
import SoukRPCCore
import SoukWire

/// How large an error answer may be, whatever the handler put in it: an error
/// must never cost more to send than the request that caused it, nor pass the
/// header limit a client applies (PROTOCOL.md section 2).
enum ErrorBounds {
    /// UTF-8 bytes of the status message.
    static let messageBytes = 4096
    /// Field violations in the details.
    static let violations = 100
    /// UTF-8 bytes of one violation's field path, and of its description.
    static let fieldBytes = 256
    static let descriptionBytes = 1024
    /// Bytes of the serialized details.
    static let detailsBytes = 16 * 1024
    /// Bytes of the trailing metadata: keys and values, and 8 bytes of framing per entry.
    static let metadataBytes = 16 * 1024
}

extension RPCError {
    /// This error cut to ``ErrorBounds``: the message shortened, violations and
    /// metadata entries past the bounds left out, and the message saying how many.
    /// An error within the bounds is returned as it is.
    func boundedForWire() -> RPCError {
        var bounded = self
        var omissions: [String] = []
        if !details.isEmpty {
            if let parsed = try? ErrorDetails(serializedBytes: details), let badRequest = parsed.badRequest {
                let all = badRequest.fieldViolations
                var kept: [FieldViolation] = []
                var size = 0
                var cut = false
                for var violation in all.prefix(ErrorBounds.violations) {
                    let field = violation.field.truncatedUTF8(to: ErrorBounds.fieldBytes)
                    let description = violation.description.truncatedUTF8(to: ErrorBounds.descriptionBytes)
                    cut = cut || field != violation.field || description != violation.description
                    (violation.field, violation.description) = (field, description)
                    size += field.utf8.count + description.utf8.count + 8
                    if size > ErrorBounds.detailsBytes { break }
                    kept.append(violation)
                }
                if kept.count < all.count || cut {
                    if kept.count < all.count { omissions.append("\(all.count - kept.count) of \(all.count) field violations") }
                    var shortened = parsed
                    var request = badRequest
                    request.fieldViolations = kept
                    shortened.badRequest = request
                    bounded.details = (try? shortened.serializedBytes()) ?? []
                }
            }
            if bounded.details.count > ErrorBounds.detailsBytes {
                omissions.append("the details (\(details.count) bytes)")
                bounded.details = []
            }
        }
        // Each entry costs its key, its value and a few bytes of framing, empty or not.
        if metadata.entries.reduce(0, { $0 + $1.key.utf8.count + $1.value.byteCount + 8 }) > ErrorBounds.metadataBytes {
            var kept = Metadata()
            var size = 0
            var left = 0
            for (key, value) in metadata {
                size += key.utf8.count + value.byteCount + 8
                if size <= ErrorBounds.metadataBytes { kept.append(key, value) } else { left += 1 }
            }
            omissions.append("\(left) of \(metadata.count) trailing metadata entries")
            bounded.metadata = kept
        }
        guard !omissions.isEmpty || message.utf8.count > ErrorBounds.messageBytes else { return bounded }
        var text = message
        var suffix = omissions.isEmpty ? "" : " (left out: \(omissions.joined(separator: ", ")))"
        if text.utf8.count + suffix.utf8.count > ErrorBounds.messageBytes {
            let budget = ErrorBounds.messageBytes - suffix.utf8.count - 64
            let cut = text.utf8.count - text.truncatedUTF8(to: budget).utf8.count
            text = text.truncatedUTF8(to: budget)
            suffix = "… (\(cut) more bytes of the message)" + suffix
        }
        bounded.message = text + suffix
        return bounded
    }
}

extension Metadata.Value {
    var byteCount: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .binary(let bytes): bytes.count
        }
    }
}

extension String {
    /// At most `limit` UTF-8 bytes of this string, cut on a character boundary.
    func truncatedUTF8(to limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var count = 0
        var end = startIndex
        for index in indices {
            let next = self.index(after: index)
            count += self[index..<next].utf8.count
            if count > limit { break }
            end = next
        }
        return String(self[..<end])
    }
}
