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
    /// Bytes of the trailing metadata, keys and values together.
    static let metadataBytes = 16 * 1024
}

extension RPCError {
    /// This error cut to ``ErrorBounds``: the message shortened, violations and
    /// metadata entries past the bounds left out, and the message saying how many.
    /// An error within the bounds is returned as it is, without a copy.
    func boundedForWire() -> RPCError {
        let metadataSize = metadata.entries.reduce(0) { $0 + $1.key.utf8.count + $1.value.byteCount }
        guard message.utf8.count > ErrorBounds.messageBytes || details.count > 4096
                || metadataSize > ErrorBounds.metadataBytes else { return self }
        var bounded = self
        var omissions: [String] = []
        if details.count > 4096 {
            if var parsed = try? ErrorDetails(serializedBytes: details), var badRequest = parsed.badRequest {
                let all = badRequest.fieldViolations
                var kept: [FieldViolation] = []
                var size = 0
                for var violation in all.prefix(ErrorBounds.violations) {
                    violation.field = violation.field.truncatedUTF8(to: ErrorBounds.fieldBytes)
                    violation.description = violation.description.truncatedUTF8(to: ErrorBounds.descriptionBytes)
                    size += violation.field.utf8.count + violation.description.utf8.count + 8
                    if size > ErrorBounds.detailsBytes { break }
                    kept.append(violation)
                }
                if kept.count < all.count { omissions.append("\(all.count - kept.count) of \(all.count) field violations") }
                badRequest.fieldViolations = kept
                parsed.badRequest = badRequest
                bounded.details = (try? parsed.serializedBytes()) ?? []
            }
            if bounded.details.count > ErrorBounds.detailsBytes {
                omissions.append("the details (\(details.count) bytes)")
                bounded.details = []
            }
        }
        if metadataSize > ErrorBounds.metadataBytes {
            var kept = Metadata()
            var size = 0
            var left = 0
            for (key, value) in metadata {
                size += key.utf8.count + value.byteCount
                if size <= ErrorBounds.metadataBytes { kept.append(key, value) } else { left += 1 }
            }
            omissions.append("\(left) of \(metadata.count) trailing metadata entries")
            bounded.metadata = kept
        }
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
